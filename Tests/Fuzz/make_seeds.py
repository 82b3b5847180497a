#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets: Tests/Fuzz/corpus/<target>/.

Run it again after changing a seed here; it rewrites the seed files (named seed-*) and leaves
any other file in the corpus directories alone. Event-json inputs start with a framing byte:
'0' (even) for application/json, '1' (odd) for NDJSON.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

HTTP = {
    "get": b"GET /v1/snapshot?order=random HTTP/1.1\r\nHost: h\r\n\r\n",
    "post-cl": b"POST /v1/events HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n"
               b'{"type":"clock","ltime":100}',
    "chunked": b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
               b"4;ext=1\r\nabcd\r\n0\r\nTrailer: x\r\n\r\n",
    "chunked-plain": b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\nab\r\nA ; a=\"q\"\r\n0123456789\r\n0\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                 b"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "expect": b"POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "absolute": b"GET http://example.com:8080/p/q?x=%41+b&y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "leading-crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX:\r\nY: \t v \t\r\n\r\n",
    "cl-list": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nz",
    "cl-te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl-conflict": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "space-colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: h\n\n",
    "version": b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    "h2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "big-body": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999\r\n\r\n",
    "huge-chunk": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
    "no-host": b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
}

EVENTS = {
    "join": b'0{"type":"member-join","members":[{"name":"foo","addr":"127.0.0.1","port":5000}],"ltime":7}',
    "batch": b'0[{"type":"user","ltime":42,"name":"deploy","payload":"aGVsbG8=","coalesce":false},'
             b'{"type":"query","ltime":50,"name":"uptime"},{"type":"clock","ltime":100}]',
    "ndjson": b'1{"type":"member-join","members":[{"name":"foo","addr":"127.0.0.1","port":5000}],"ltime":7}\n'
              b'\n  \n{"type":"clock","ltime":100}\r\n',
    "members": b'0{"type":"member-failed","members":[{"name":"a","addr":"fe80::1","port":0},'
               b'{"name":"b\\u00e9\\n","addr":"::ffff:1.2.3.4","port":65535,"x":[1,{"y":null}]}]}',
    "nulls": b'0{"type":"user","ltime":1,"name":"x","payload":null,"coalesce":null,"extra":[true,false,-1.5e3]}',
    "escaped-keys": b'0{"t\\u0079pe":"clock","\\u006ctime":18446744073709551615}',
    "bad-type": b'0[{"type":"clock","ltime":1},{"type":"member-jion","members":[]}]',
    "bad-numbers": b'1{"type":"clock","ltime":1.0}\n{"type":"clock","ltime":-1}\n{"type":"clock","ltime":1e3}',
    "deep": b'0{"type":"clock","ltime":1,"n":' + b"[" * 70 + b"]" * 70 + b"}",
    "truncated": b'0{"type":"user","ltime":',
    "utf8": b'0{"type":"query","ltime":5,"name":"\xe2\x9c\x93\xff"}',
    "reap": b'1{"type":"member-reap","members":[{"name":"n","addr":"10.0.0.1","port":1}],"ltime":null}',
    # Found by the fuzzer (issue 11): an unknown field with an out-of-range number, which simdjson
    # accepted (the field ignored) and Foundation refused. Unknown fields are refused now.
    "unknown-field": b'0{"type":"user","ltime":42,"name":"loy","payload":"aGVsbG81","cltme":100e0860}',
    "unknown-member-field": b'1{"type":"member-join","members":[{"name":"a","addr":"::1","port":1,"tags":{"r":"w"}}]}',
}

CRC_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def header(created=1_700_000_000_000_000_000, log_position=None):
    flags = 0 if log_position is None else 1
    body = b"\x89SERFSN2" + struct.pack("<HHQ", 2, flags, created)
    body += struct.pack("<I", crc32c(body))
    if log_position is not None:  # a checkpoint's log position extension
        position = struct.pack("<Q", log_position)
        body += position + struct.pack("<I", crc32c(position))
    return body


def record(kind, payload):
    body = struct.pack("<IB", len(payload), kind) + payload
    return body + struct.pack("<I", crc32c(body))


def alive(name, addr):
    return record(1, struct.pack("<I", len(name)) + name + addr)


ALIVE = alive(b"foo", b"127.0.0.1:5000")
RECORDS = (ALIVE + record(2, b"foo") + record(3, struct.pack("<Q", 100)) + record(4, struct.pack("<Q", 42))
           + record(5, struct.pack("<Q", 50)) + alive(b"bar", b"[fe80::1]:7946") + record(6, b""))
DAMAGED = bytearray(RECORDS)
DAMAGED[len(ALIVE) + 6] ^= 0x01
V2 = {
    "header-only": header(),
    "all-records": header() + RECORDS,
    "damaged-middle": header() + bytes(DAMAGED),
    "torn-tail": header() + RECORDS + ALIVE[:7],
    "damaged-header": b"\x89SERFSN2" + b"\x00" * 16 + RECORDS,
    "short-header": header()[:10],
    "bad-layout": header() + record(3, b"\x01\x02") + record(6, b"x") + record(1, b"\xff\xff\xff\xff"),
    "checkpoint": header(log_position=4096) + RECORDS,
    "damaged-extension": header(log_position=4096)[:30] + b"\x00" + header(log_position=4096)[31:] + RECORDS,
    "short-extension": header(log_position=4096)[:30],
}


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)


write("http-parser", HTTP)
write("event-json", EVENTS)
write("v2-decoder", V2)
