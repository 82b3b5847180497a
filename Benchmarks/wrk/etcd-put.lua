-- wrk script for `make bench` (multi): etcd v3's HTTP JSON gateway, POST /v3/kv/put with
-- {"key": base64, "value": base64}, keep-alive, over $BENCH_KEYS keys (k0000, k0001, ...) chosen
-- round-robin (each wrk thread from its own offset). The value is the file $BENCH_BODY (the same
-- bytes snapshotd is sent as one event). done() prints one line "BENCHJSON {...}" (the fields of
-- post.lua, plus "keys"); "non2xx" counts the answers other than 2xx.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local value = f:read("*a")
f:close()
local count = tonumber(os.getenv("BENCH_KEYS") or "1000")

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for p = 1, #s, 3 do
    local a, b, c = s:byte(p, p + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 4 - (3 - (#s - p + 1 >= 3 and 3 or #s - p + 1))
    for k = 1, 4 do
      if k <= chars then
        local idx = math.floor(n / 64 ^ (4 - k)) % 64
        out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
      else
        out[#out + 1] = "="
      end
    end
  end
  return table.concat(out)
end

local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

local requests, i = {}, 0
function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  local v = base64(value)
  for n = 0, count - 1 do
    local body = string.format('{"key":"%s","value":"%s"}', base64(string.format("k%04d", n)), v)
    requests[n + 1] = wrk.format("POST", "/v3/kv/put", headers, body)
  end
  i = (offset or 0) % count
end

function request()
  i = i % count + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"requests_per_second":%.1f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d,"latency_max_us":%d,"keys":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, count))
end
