import Foundation
import Synchronization
import Testing

/// The real `snapshotd` binary, driven over HTTP with libcurl.
@Suite struct ServiceTests {
    /// Starts snapshotd on a fresh snapshot (or `path`) and waits until /readyz says ready.
    static func start(_ path: String? = nil, _ arguments: [String] = []) throws -> (SnapshotdProcess, CurlClient, String) {
        let snapshot = path ?? SnapshotdProcess.makeTempDir() + "/data/snapshot"
        let process = try SnapshotdProcess(snapshotPath: snapshot, arguments: arguments)
        let client = CurlClient(baseURL: process.baseURL)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            // Ready, or done replaying but not ready for another reason (leaving).
            if let ready = try? client.get("/readyz"), ready.status == 200 || !ready.text.contains("starting") {
                try Contract.check(ready, "GET", "/readyz")
                return (process, client, snapshot)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw CurlError(message: "snapshotd never became ready: \(process.stderrText)")
    }

    /// SIGTERM, then the exit status.
    static func stop(_ process: SnapshotdProcess) throws -> Int32 {
        process.signal(SIGTERM)
        return try process.waitForExit(timeout: 20)
    }

    struct Snapshot: Decodable, Equatable {
        struct Node: Decodable, Equatable { var name: String; var addr: String }
        var alive_nodes: [Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
        var leaving: Bool
    }

    static func snapshot(_ client: CurlClient, order: String = "sorted") throws -> Snapshot {
        let response = try client.get("/v1/snapshot?order=\(order)")
        try Contract.check(response, "GET", "/v1/snapshot")
        #expect(response.status == 200)
        return try response.decode(Snapshot.self)
    }

    @discardableResult
    static func post(_ client: CurlClient, _ path: String, _ json: String, contentType: String = "application/json") throws -> CurlResponse {
        let response = try client.post(path, body: Array(json.utf8), contentType: contentType)
        try Contract.check(response, "POST", path)
        return response
    }

    static let foo = #"{"name":"foo","addr":"127.0.0.1","port":5000}"#
    /// Go serf's TestSnapshotter sequence, as API calls.
    static func postGoScenario(_ client: CurlClient) throws {
        for event in [
            #"{"type":"user","ltime":42,"name":"bar"}"#,
            #"{"type":"query","ltime":50,"name":"uptime"}"#,
            #"{"type":"clock","ltime":100}"#,
            #"{"type":"member-join","members":[\#(foo)]}"#,
            #"{"type":"member-failed","members":[\#(foo)]}"#,
            #"{"type":"member-join","members":[\#(foo)]}"#,
        ] {
            let response = try post(client, "/v1/events", event)
            #expect(response.status == 200, "\(event): \(response.text)")
            #expect(response.text == #"{"accepted":1,"durable":true}"#)
        }
    }

    static let goState = Snapshot(alive_nodes: [.init(name: "foo", addr: "127.0.0.1:5000")], clock: 100, event_clock: 42, query_clock: 50, leaving: false)

    @Test func goScenarioSurvivesRestart() throws {
        let (process, client, path) = try Self.start()
        try Self.postGoScenario(client)
        #expect(try Self.snapshot(client) == Self.goState)
        #expect(try Self.stop(process) == 0)

        let (again, client2, _) = try Self.start(path)
        #expect(try Self.snapshot(client2) == Self.goState)
        #expect(try Self.stop(again) == 0)
    }

    @Test func leaveIsDurableAndRefusesLaterEvents() throws {
        let (process, client, path) = try Self.start()
        try Self.postGoScenario(client)
        let leave = try Self.post(client, "/v1/leave", "")
        #expect(leave.status == 200)
        let late = try Self.post(client, "/v1/events", #"{"type":"user","ltime":99,"name":"x"}"#)
        #expect(late.status == 409)
        // Readiness is about the service, never about the agent having left.
        let ready = try client.get("/readyz")
        try Contract.check(ready, "GET", "/readyz")
        #expect(ready.status == 200)
        #expect(try Self.snapshot(client).leaving)
        #expect(try Self.stop(process) == 0)

        let (again, client2, _) = try Self.start(path, ["--rejoin-after-leave"])
        // With rejoin-after-leave the replayed leave is ignored, as in Go serf.
        #expect(try Self.snapshot(client2) == Self.goState)
        #expect(try Self.stop(again) == 0)
        // Without it the leave cleared the state; the new process is a new life (as in Go).
        let (third, client3, _) = try Self.start(path)
        let cleared = try Self.snapshot(client3)
        #expect(cleared.alive_nodes.isEmpty && cleared.clock == 0 && cleared.event_clock == 0 && !cleared.leaving)
        #expect(try client3.get("/readyz").status == 200)
        #expect(try Self.post(client3, "/v1/events", #"{"type":"user","ltime":5,"name":"x"}"#).status == 200)
        #expect(try Self.stop(third) == 0)
    }

    @Test func rejoinEndsTheLeaveDurably() throws {
        let (process, client, path) = try Self.start()
        try Self.postGoScenario(client)
        // Without a leave a rejoin only answers the state.
        let first = try Self.post(client, "/v1/rejoin", "")
        try Contract.check(first, "POST", "/v1/rejoin")
        #expect(first.status == 200)
        #expect(try JSONDecoder().decode(Snapshot.self, from: Data(first.body)) == Self.goState)
        #expect(try Self.post(client, "/v1/leave", "").status == 200)
        #expect(try Self.post(client, "/v1/events", #"{"type":"user","ltime":99,"name":"x"}"#).status == 409)
        let rejoin = try Self.post(client, "/v1/rejoin", "")
        try Contract.check(rejoin, "POST", "/v1/rejoin")
        #expect(rejoin.status == 200)
        let state = try JSONDecoder().decode(Snapshot.self, from: Data(rejoin.body))
        #expect(state.alive_nodes.isEmpty && state.clock == 0 && state.event_clock == 0 && !state.leaving)
        #expect(try Self.post(client, "/v1/events", #"{"type":"user","ltime":7,"name":"x"}"#).status == 200)
        // kill -9 right after: the leave does not come back, the new life's event is there.
        process.kill9()
        let (again, client2, _) = try Self.start(path)
        let replayed = try Self.snapshot(client2)
        #expect(!replayed.leaving && replayed.event_clock == 7 && replayed.alive_nodes.isEmpty)
        #expect(try Self.stop(again) == 0)
    }

    @Test func leaveWithRejoinKeepsNodes() throws {
        let (process, client, path) = try Self.start(nil, ["--rejoin-after-leave"])
        try Self.postGoScenario(client)
        #expect(try Self.post(client, "/v1/leave", "").status == 200)
        #expect(try Self.snapshot(client).alive_nodes.map(\.name) == ["foo"])
        #expect(try Self.stop(process) == 0)
        let (again, client2, _) = try Self.start(path, ["--rejoin-after-leave"])
        #expect(try Self.snapshot(client2) == Self.goState)
        #expect(try Self.stop(again) == 0)
    }

    @Test func keepAliveReusesOneConnection() throws {
        let (process, client, _) = try Self.start()
        for i in 1...20 {
            #expect(try Self.post(client, "/v1/events", #"{"type":"user","ltime":\#(i),"name":"x"}"#).status == 200)
            let health = try client.get("/healthz")
            try Contract.check(health, "GET", "/healthz")
            #expect(health.status == 200)
        }
        #expect(client.connectionsOpened == 1)
        #expect(try Self.stop(process) == 0)
    }

    @Test func largeNDJSONBatchWithContinue() throws {
        let (process, client, _) = try Self.start(nil, ["--min-compact-size", "100000000"])
        var body = ""
        for i in 0..<20_000 {
            body += #"{"type":"member-join","members":[{"name":"node-\#(i)","addr":"10.\#(i / 65536).\#(i / 256 % 256).\#(i % 256)","port":7946}]}"# + "\n"
        }
        #expect(body.utf8.count > 1 << 20)  // libcurl asks for 100-continue above 1 MiB
        let response = try client.post("/v1/events", body: Array(body.utf8), contentType: "application/x-ndjson")
        try Contract.check(response, "POST", "/v1/events")
        #expect(response.status == 200)
        #expect(response.informational.contains(100))
        #expect(response.text == #"{"accepted":20000,"durable":true}"#)
        // An explicit Expect on a small body is answered too.
        let small = try client.post("/v1/events", body: Array(#"{"type":"user","ltime":1,"name":"x"}"#.utf8), headers: ["Expect: 100-continue"])
        #expect(small.status == 200 && small.informational.contains(100))
        #expect(try Self.snapshot(client).alive_nodes.count == 20_000)
        #expect(try Self.stop(process) == 0)
    }

    @Test func badRequestsRecordNothing() throws {
        let (process, client, _) = try Self.start()
        let malformed = try Self.post(client, "/v1/events", #"{"type":"user","ltime":"#)
        #expect(malformed.status == 400)
        #expect((try malformed.json()["error"] as? String) != nil)
        let badSecond = try Self.post(client, "/v1/events", #"[{"type":"user","ltime":5,"name":"a"},{"type":"bogus"},{"type":"query","ltime":6,"name":"q"}]"#)
        #expect(badSecond.status == 400)
        #expect(badSecond.text.contains("event 1"))
        let badLine = try Self.post(client, "/v1/events", "{\"type\":\"user\",\"ltime\":5,\"name\":\"a\"}\n{\"type\":\"clock\",\"ltime\":-1}\n", contentType: "application/x-ndjson")
        #expect(badLine.status == 400 && badLine.text.contains("event 1"))
        let badAddr = try Self.post(client, "/v1/events", #"{"type":"member-join","members":[{"name":"a","addr":"1.2.3","port":1}]}"#)
        #expect(badAddr.status == 400)
        let wrongType = try Self.post(client, "/v1/events", "user 5", contentType: "text/plain")
        #expect(wrongType.status == 415)
        let snapshot = try Self.snapshot(client)
        #expect(snapshot.event_clock == 0 && snapshot.query_clock == 0 && snapshot.clock == 0)
        let unknown = try client.get("/v2/nothing")
        try Contract.check(unknown, "GET", "/v2/nothing")
        #expect(unknown.status == 404)
        let wrongMethod = try client.get("/v1/events")
        try Contract.check(wrongMethod, "GET", "/v1/events")
        #expect(wrongMethod.status == 405 && wrongMethod.header("allow") == "POST")
        #expect(try client.get("/v1/snapshot?order=backwards").status == 400)
        #expect(try Self.stop(process) == 0)
    }

    /// A body in a content coding snapshotd does not decode is refused with 415 (RFC 9110
    /// §15.5.16), not misread as JSON; `identity` is no coding at all.
    @Test func contentEncodingIsRefused() throws {
        let (process, client, _) = try Self.start()
        let event = Array(#"{"type":"clock","ltime":5}"#.utf8)
        for coding in ["gzip", "deflate", "br", "identity, gzip", "GZIP"] {
            let response = try client.post("/v1/events", body: event, headers: ["Content-Encoding: \(coding)"])
            try Contract.check(response, "POST", "/v1/events")
            #expect(response.status == 415, "\(coding)")
            #expect((try response.json()["error"] as? String)?.contains("Content-Encoding") == true, "\(response.text)")
            #expect(response.header("accept-encoding") == "identity")
        }
        #expect(try Self.snapshot(client).clock == 0)
        let identity = try client.post("/v1/events", body: event, headers: ["Content-Encoding: identity"])
        #expect(identity.status == 200)
        #expect(try Self.snapshot(client).clock == 5)
        #expect(try Self.stop(process) == 0)
    }

    /// application/ndjson (the name ndjson.org now uses) is NDJSON as application/x-ndjson is.
    @Test func ndjsonUnderBothMediaTypes() throws {
        let (process, client, _) = try Self.start()
        let body = "{\"type\":\"clock\",\"ltime\":3}\n{\"type\":\"query\",\"ltime\":4,\"name\":\"q\"}\n"
        for type in ["application/ndjson", "application/x-ndjson", "Application/NDJSON; charset=utf-8"] {
            let response = try Self.post(client, "/v1/events", body, contentType: type)
            #expect(response.status == 200, "\(type): \(response.text)")
            #expect(response.text == #"{"accepted":2,"durable":true}"#)
        }
        #expect(try Self.stop(process) == 0)
    }

    /// --access-log (or SNAPSHOTD_ACCESS_LOG=1): one line per request at info, with the method,
    /// path, status, seconds and the client's address; without it those lines are at debug.
    @Test func accessLogBehindAFlag() throws {
        func accessLines(_ process: SnapshotdProcess) -> [Substring] {
            process.stderrText.split(separator: "\n").filter { $0.contains("GET /v1/snapshot 200 ") }
        }
        let (process, client, _) = try Self.start(nil, ["--access-log"])
        _ = try Self.snapshot(client)
        #expect(try Self.post(client, "/v1/events", "{").status == 400)
        #expect(try Self.stop(process) == 0)
        let line = accessLines(process).first.map(String.init) ?? ""
        #expect(line.contains(" info ") && line.contains("client=127.0.0.1:") && line.range(of: #"200 \d+\.\d{6}s"#, options: .regularExpression) != nil,
                "\(process.stderrText)")
        #expect(process.stderrText.contains("POST /v1/events 400 "))

        let fromEnvironment = try SnapshotdProcess(snapshotPath: SnapshotdProcess.makeTempDir() + "/s",
                                                   environment: ["SNAPSHOTD_ACCESS_LOG": "1"])
        let environmentClient = CurlClient(baseURL: fromEnvironment.baseURL)
        let ready = Date().addingTimeInterval(20)
        while (try? environmentClient.get("/readyz"))?.status != 200 && Date() < ready { Thread.sleep(forTimeInterval: 0.02) }
        _ = try Self.snapshot(environmentClient)
        #expect(try Self.stop(fromEnvironment) == 0)
        #expect(accessLines(fromEnvironment).count == 1)

        let (quiet, quietClient, _) = try Self.start()
        _ = try Self.snapshot(quietClient)
        #expect(try Self.stop(quiet) == 0)
        #expect(accessLines(quiet).isEmpty)
    }

    /// A misspelled field is refused over HTTP too, naming it.
    @Test func unknownFieldIsRefused() throws {
        let (process, client, _) = try Self.start()
        let response = try Self.post(client, "/v1/events", #"{"type":"user","ltime":42,"name":"n","ltme":7}"#)
        #expect(response.status == 400)
        #expect(try response.json()["error"] as? String == #"event 0: unknown field "ltme" in a user event"#)
        #expect(try Self.stop(process) == 0)
    }

    @Test func fullQueueAnswers503WithRetryAfter() throws {
        let (process, _, _) = try Self.start(nil, [
            "--queue-capacity", "1", "--queue-wait", "0", "--simulate-sync-delay-ms", "300",
        ])
        let statuses = Mutex<[Int]>([])
        let retryAfter = Mutex<[String]>([])
        let baseURL = process.baseURL
        // Eight clients at once against a disk that takes 300 ms a sync and a queue of one.
        let group = DispatchGroup()
        for i in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let client = CurlClient(baseURL: baseURL)
                guard let response = try? client.post("/v1/events", body: Array(#"{"type":"user","ltime":\#(i + 1),"name":"x"}"#.utf8)) else { return }
                statuses.withLock { $0.append(response.status) }
                if response.status == 503 { retryAfter.withLock { $0.append(response.header("retry-after") ?? "") } }
            }
        }
        group.wait()
        let seen = statuses.withLock { $0 }
        #expect(seen.count == 8)
        #expect(seen.contains(503))
        #expect(seen.contains(200))
        #expect(retryAfter.withLock { $0 }.allSatisfy { $0 == "1" })
        let client = CurlClient(baseURL: process.baseURL)
        let metrics = try client.get("/metrics").text
        #expect(metrics.contains(#"snapshotd_events_refused_total{reason="queue_full"}"#))
        #expect(try Self.stop(process) == 0)
    }

    /// SIGTERM in the middle of a flood: every event acknowledged with 200 is in the snapshot.
    @Test func sigtermDuringFloodLosesNoAcknowledgedEvent() throws {
        let (process, _, path) = try Self.start()
        let baseURL = process.baseURL
        let acknowledged = Mutex<[String]>([])
        let started = Date()
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let client = CurlClient(baseURL: baseURL)
                client.timeoutMilliseconds = 5000
                for i in 0..<100_000 {
                    let name = "w\(worker)-\(i)"
                    let body = #"{"type":"member-join","members":[{"name":"\#(name)","addr":"10.0.0.1","port":1}]}"#
                    guard let response = try? client.post("/v1/events", body: Array(body.utf8)) else { return }
                    if response.status == 200 { acknowledged.withLock { $0.append(name) } }
                    if response.status != 200 || Date().timeIntervalSince(started) > 30 { return }
                }
            }
        }
        while acknowledged.withLock({ $0.count }) < 300 && Date().timeIntervalSince(started) < 20 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(try Self.stop(process) == 0)
        group.wait()
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count >= 300)

        let (again, client, _) = try Self.start(path)
        let alive = Set(try Self.snapshot(client).alive_nodes.map(\.name))
        let lost = acked.filter { !alive.contains($0) }
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(5))")
        #expect(try Self.stop(again) == 0)
    }

    @Test func compactAnswersWithSizes() throws {
        let (process, client, _) = try Self.start()
        try Self.postGoScenario(client)
        let response = try Self.post(client, "/v1/compact", "")
        #expect(response.status == 200)
        let body = try response.json()
        #expect((body["bytes_before"] as? Int ?? 0) > (body["bytes_after"] as? Int ?? Int.max))
        #expect(try Self.snapshot(client) == Self.goState)
        #expect(try Self.stop(process) == 0)
    }

    @Test func randomOrderReturnsTheSameNodes() throws {
        let (process, client, _) = try Self.start()
        var members: [String] = []
        for i in 0..<50 { members.append(#"{"name":"n\#(i)","addr":"fe80::\#(i + 1)","port":7946}"#) }
        #expect(try Self.post(client, "/v1/events", #"{"type":"member-join","members":[\#(members.joined(separator: ","))]}"#).status == 200)
        let sorted = try Self.snapshot(client)
        #expect(sorted.alive_nodes.map(\.name) == sorted.alive_nodes.map(\.name).sorted())
        #expect(sorted.alive_nodes.first?.addr == "[fe80::1]:7946")
        var orders = Set<[String]>()
        for _ in 0..<5 { orders.insert(try Self.snapshot(client, order: "random").alive_nodes.map(\.name)) }
        #expect(orders.count > 1)
        #expect(orders.allSatisfy { Set($0) == Set(sorted.alive_nodes.map(\.name)) })
        #expect(try Self.stop(process) == 0)
    }
}
