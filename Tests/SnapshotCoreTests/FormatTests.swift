import Testing
@testable import SnapshotCore

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("127.0.0.1", 5000, "127.0.0.1:5000"),
        ("10.0.0.1", 7946, "10.0.0.1:7946"),
        ("fe80::1", 7946, "[fe80::1]:7946"),
        ("2001:db8::1", 1, "[2001:db8::1]:1"),
        ("::ffff:10.0.0.1", 80, "10.0.0.1:80"),
        ("2001:db8:0:0:1:0:0:1", 9, "[2001:db8::1:0:0:1]:9"),
        ("0:0:0:0:0:0:0:1", 9, "[::1]:9"),
        ("::", 9, "[::]:9"),
        ("2001:DB8:0:1:1:1:1:1", 9, "[2001:db8:0:1:1:1:1:1]:9"),
        ("1:0:0:2:0:0:0:3", 9, "[1:0:0:2::3]:9"),
        ("1:0:0:2:0:0:3:4", 9, "[1::2:0:0:3:4]:9"),
        ("::1.2.3.4", 9, "[::102:304]:9"),
    ])
    func formatsLikeGo(input: String, port: Int, expected: String) throws {
        let ip = try #require(IPAddress(input))
        #expect(ip.goHostPort(port: UInt16(port)) == expected)
    }

    @Test(arguments: ["", "1.2.3", "256.1.1.1", "fe80::1%eth0", "host.example", "1.2.3.4 ", "::g"])
    func rejectsNonAddresses(input: String) {
        #expect(IPAddress(input) == nil)
    }
}

@Suite struct V1FormatTests {
    func line(_ text: String) -> V1Format.Line {
        Array(text.utf8).withUnsafeBytes { V1Format.parseLine($0) }
    }

    func encoded(_ record: SnapshotRecord) -> String {
        var buffer: [UInt8] = []
        V1Format.encode(record, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func encodesGoLines() {
        #expect(encoded(.alive(name: "foo", address: "127.0.0.1:5000")) == "alive: foo 127.0.0.1:5000\n")
        #expect(encoded(.notAlive(name: "node with spaces")) == "not-alive: node with spaces\n")
        #expect(encoded(.clock(100)) == "clock: 100\n")
        #expect(encoded(.eventClock(0)) == "event-clock: 0\n")
        #expect(encoded(.queryClock(UInt64.max)) == "query-clock: 18446744073709551615\n")
        #expect(encoded(.leave) == "leave\n")
    }

    @Test func parsesByGoRules() {
        #expect(line("alive: node with spaces [fe80::1]:7946") == .record(.alive(name: "node with spaces", address: "[fe80::1]:7946")))
        #expect(line("alive: foo 127.0.0.1:5000") == .record(.alive(name: "foo", address: "127.0.0.1:5000")))
        #expect(line("not-alive: foo") == .record(.notAlive(name: "foo")))
        #expect(line("clock: 18446744073709551615") == .record(.clock(.max)))
        #expect(line("event-clock: 42") == .record(.eventClock(42)))
        #expect(line("query-clock: 50") == .record(.queryClock(50)))
        #expect(line("leave") == .record(.leave))
        #expect(line("# a comment") == .ignored)
        #expect(line("coordinate: {\"Vec\":[1]}") == .ignored)
        for bad in ["alive: nospace", "clock: abc", "clock: -1", "clock: +1", "clock: 18446744073709551616",
                    "clock: ", "leave ", "unknown", "", "clock: 1\r"] {
            guard case .malformed = line(bad) else {
                Issue.record("\(bad.debugDescription) should be malformed")
                continue
            }
        }
    }

    @Test func roundTripsEveryRecord() {
        let records: [SnapshotRecord] = [
            .alive(name: "a b c", address: "[2001:db8::1]:1"), .notAlive(name: "x"), .clock(7),
            .eventClock(8), .queryClock(9), .leave,
        ]
        for record in records {
            var buffer: [UInt8] = []
            V1Format.encode(record, into: &buffer)
            let parsed = buffer.dropLast().withUnsafeBytes { V1Format.parseLine($0) }
            #expect(parsed == .record(record))
        }
    }

    /// The decoder gives the same items wherever the file is cut into chunks.
    @Test func decodesAcrossEveryChunkBoundary() {
        let text = "# header\nalive: foo 127.0.0.1:5000\nbogus\nclock: 5\nnot-alive: foo\nevent-clock: 3\nevent-cl"
        let bytes = Array(text.utf8)
        func decode(split: Int) -> ([ReplayItem], Int64) {
            var decoder = V1Decoder()
            var items: [ReplayItem] = []
            bytes[..<split].withUnsafeBytes { decoder.feed($0) { items.append($0) } }
            bytes[split...].withUnsafeBytes { decoder.feed($0) { items.append($0) } }
            let valid = decoder.finish { items.append($0) }
            return (items, valid)
        }
        let (reference, valid) = decode(split: 0)
        #expect(reference == [
            .ignored(offset: 0),
            .record(.alive(name: "foo", address: "127.0.0.1:5000"), offset: 9),
            .skipped(offset: 35, length: 6, reason: "unrecognized line"),
            .record(.clock(5), offset: 41),
            .record(.notAlive(name: "foo"), offset: 50),
            .record(.eventClock(3), offset: 65),
        ])
        #expect(valid == Int64(bytes.count - "event-cl".utf8.count))
        for split in 0...bytes.count {
            let (items, length) = decode(split: split)
            #expect(items == reference, "split at \(split)")
            #expect(length == valid)
        }
    }
}

@Suite struct SnapshotStateTests {
    /// Go's TestSnapshotter sequence: user 42, query 50, witness 100, join/fail/join foo.
    @Test func appliesEventsAsGoSerf() {
        var state = SnapshotState()
        var clock = LamportClock()
        var records: [SnapshotRecord] = []
        let foo = member("foo")
        for event in [user(42), query(50), SnapshotEvent.clock(ltime: 100), join(foo), failed(foo), join(foo), user(41), query(50)] {
            state.apply(event, clock: &clock) { records.append($0) }
        }
        #expect(records == [
            .eventClock(42), .queryClock(50), .clock(100),
            .alive(name: "foo", address: "127.0.0.1:5000"), .notAlive(name: "foo"),
            .alive(name: "foo", address: "127.0.0.1:5000"),
        ])
        #expect(state.lastClock == 100 && state.lastEventClock == 42 && state.lastQueryClock == 50)
        #expect(state.aliveNodes["foo"] == "127.0.0.1:5000")
    }

    /// A fresh clock never records time - 1 = 0 - 1 (Go's wrap to 18446744073709551615).
    @Test func freshClockNeverWraps() {
        var state = SnapshotState()
        var clock = LamportClock()
        var records: [SnapshotRecord] = []
        state.apply(join(member("a")), clock: &clock) { records.append($0) }
        #expect(records == [.alive(name: "a", address: "127.0.0.1:5000")])
        clock.witness(.max)
        state.checkClock(clock) { records.append($0) }
        #expect(records.last == .clock(.max - 1))
    }

    @Test func memberLtimeIsWitnessedFirst() {
        var state = SnapshotState()
        var clock = LamportClock()
        var records: [SnapshotRecord] = []
        state.apply(join(member("a"), ltime: 7), clock: &clock) { records.append($0) }
        #expect(records.last == .clock(7))
    }

    @Test func replayLeaveResetsUnlessRejoin() {
        var state = SnapshotState()
        for record: SnapshotRecord in [.alive(name: "a", address: "1.1.1.1:1"), .clock(5), .eventClock(6), .queryClock(7), .leave] {
            state.replay(record, rejoinAfterLeave: false)
        }
        #expect(state.aliveNodes.isEmpty && state.lastClock == 0 && state.lastEventClock == 0 && state.lastQueryClock == 0)
        #expect(!state.leaving)  // a replayed leave is not a leave of this life, as in Go

        var rejoin = SnapshotState()
        for record: SnapshotRecord in [.alive(name: "a", address: "1.1.1.1:1"), .clock(5), .leave] {
            rejoin.replay(record, rejoinAfterLeave: true)
        }
        #expect(rejoin.aliveNodes.count == 1 && rejoin.lastClock == 5 && !rejoin.leaving)
    }
}
