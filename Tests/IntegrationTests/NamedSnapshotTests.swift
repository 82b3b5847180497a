import Foundation
import Testing

/// Named snapshots on the wire (`/v1/snapshots/...`): one snapshotd keeps many agents'
/// snapshots apart, each created, written, read, left, exported, imported and deleted by name,
/// across restarts and a kill -9; names are checked before anything else; tokens are per name.
@Suite struct NamedSnapshotTests {
    static func join(_ name: String, port: Int = 7946, ltime: Int? = nil) -> String {
        let clock = ltime.map { #","ltime":\#($0)"# } ?? ""
        return #"{"type":"member-join","members":[{"name":"\#(name)","addr":"10.0.0.1","port":\#(port)}]\#(clock)}"#
    }

    @discardableResult
    static func call(_ client: CurlClient, _ method: String, _ path: String, _ body: String? = nil,
                     headers: [String] = [], contentType: String = "application/json") throws -> CurlResponse {
        let response: CurlResponse
        if method == "POST" {
            response = try client.post(path, body: Array((body ?? "").utf8), contentType: contentType, headers: headers)
        } else {
            let extra = body == nil ? headers : ["Content-Type: \(contentType)"] + headers
            response = try client.request(method: method, path: path, body: body.map { Array($0.utf8) }, headers: extra)
        }
        try Contract.check(response, method, path)
        return response
    }

    static func alive(_ client: CurlClient, _ name: String) throws -> [String] {
        let response = try Self.call(client, "GET", "/v1/snapshots/\(name)")
        #expect(response.status == 200, "\(name): \(response.text)")
        return try response.decode(ServiceTests.Snapshot.self).alive_nodes.map(\.name)
    }

    @Test func eachSnapshotKeepsItsOwnEventsAcrossARestart() throws {
        let (process, client, path) = try ServiceTests.start()
        #expect(try Self.call(client, "PUT", "/v1/snapshots/agent-1", #"{"format":"v1"}"#).status == 201)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/agent-1", #"{"format":"v1"}"#).status == 200)
        let conflict = try Self.call(client, "PUT", "/v1/snapshots/agent-1", #"{"format":"v2"}"#)
        #expect(conflict.status == 409 && conflict.text.contains("other options"))
        #expect(try Self.call(client, "POST", "/v1/snapshots/agent-1/events", Self.join("a1")).status == 200)
        // A first write creates the snapshot.
        #expect(try Self.call(client, "POST", "/v1/snapshots/agent-2/events", Self.join("a2", ltime: 9)).status == 200)
        #expect(try Self.call(client, "POST", "/v1/events", Self.join("d0")).status == 200)
        #expect(try Self.alive(client, "agent-1") == ["a1"])
        #expect(try Self.alive(client, "agent-2") == ["a2"])
        #expect(try Self.alive(client, "default") == ["d0"])
        #expect(try ServiceTests.snapshot(client).alive_nodes.map(\.name) == ["d0"])

        let list = try Self.call(client, "GET", "/v1/snapshots").json()
        let names = (list["snapshots"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["agent-1", "agent-2", "default"])
        let page = try Self.call(client, "GET", "/v1/snapshots?limit=2").json()
        #expect((page["snapshots"] as? [Any])?.count == 2 && page["next"] as? String == "agent-2")
        let rest = try Self.call(client, "GET", "/v1/snapshots?after=agent-2").json()
        #expect((rest["snapshots"] as? [[String: Any]])?.first?["name"] as? String == "default")
        #expect(try Self.call(client, "GET", "/v1/snapshots?limit=0").status == 400)

        let stats = try Self.call(client, "GET", "/v1/snapshots/agent-2/stats").json()
        #expect(stats["alive"] as? Int == 1 && stats["format"] as? String == "v2" && stats["clock"] as? Int == 9)
        #expect(try Self.call(client, "GET", "/v1/snapshots/nobody").status == 404)
        #expect(try Self.call(client, "GET", "/v1/snapshots/nobody/stats").status == 404)
        #expect(try Self.call(client, "POST", "/v1/snapshots/nobody/leave").status == 404)

        #expect(try ServiceTests.stop(process) == 0)
        // At rest each named snapshot is a complete file in its own format: agent-1's is Go's text.
        let directory = (path as NSString).deletingLastPathComponent + "/snapshots"
        let text = try String(contentsOfFile: directory + "/agent-1", encoding: .utf8)
        #expect(text.contains("alive: a1 10.0.0.1:7946"))

        let (again, client2, _) = try ServiceTests.start(path)
        #expect(try Self.alive(client2, "agent-1") == ["a1"])
        #expect(try Self.alive(client2, "agent-2") == ["a2"])
        #expect(try Self.alive(client2, "default") == ["d0"])
        #expect(try ServiceTests.stop(again) == 0)
    }

    @Test func leaveAndRejoinArePerSnapshot() throws {
        let (process, client, _) = try ServiceTests.start()
        try Self.call(client, "POST", "/v1/snapshots/a/events", Self.join("n1"))
        try Self.call(client, "POST", "/v1/snapshots/b/events", Self.join("n2"))
        #expect(try Self.call(client, "POST", "/v1/snapshots/a/leave").status == 200)
        #expect(try Self.call(client, "POST", "/v1/snapshots/a/events", Self.join("n3")).status == 409)
        #expect(try Self.call(client, "POST", "/v1/snapshots/b/events", Self.join("n3")).status == 200)
        #expect(try Self.alive(client, "b") == ["n2", "n3"])
        #expect(try Self.call(client, "POST", "/v1/snapshots/a/rejoin").status == 200)
        #expect(try Self.call(client, "POST", "/v1/snapshots/a/events", Self.join("n4")).status == 200)
        #expect(try Self.alive(client, "a") == ["n4"])
        let compacted = try Self.call(client, "POST", "/v1/snapshots/b/compact")
        #expect(compacted.status == 200, "\(compacted.text)")
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func namesAreCheckedBeforeAnythingElse() throws {
        let (process, client, _) = try ServiceTests.start()
        let long = String(repeating: "a", count: 129)
        for bad in ["..", ".", ".hidden", "a%2Fb", "a%00b", "a%2", "%2E%2E", long, "a%20b", "caf%C3%A9"] {
            for (method, suffix) in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/events"), ("GET", "/export")] {
                let response = try Self.call(client, method, "/v1/snapshots/\(bad)\(suffix)", method == "POST" ? Self.join("x") : nil)
                #expect(response.status == 400, "\(method) \(bad)\(suffix): \(response.status) \(response.text)")
                #expect((try? response.json()["error"] as? String)?.contains("snapshot name") == true, "\(response.text)")
            }
        }
        #expect(try Self.call(client, "GET", "/v1/snapshots/\(String(repeating: "a", count: 128))").status == 404)
        #expect(try Self.call(client, "GET", "/v1/snapshots").status == 200)
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func deleteRemovesTheSnapshotAndItsFileDurably() throws {
        let (process, client, path) = try ServiceTests.start()
        try Self.call(client, "POST", "/v1/snapshots/gone/events", Self.join("old"))
        #expect(try Self.call(client, "POST", "/v1/snapshots/gone/compact").status == 200)
        let file = (path as NSString).deletingLastPathComponent + "/snapshots/gone"
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(try Self.call(client, "DELETE", "/v1/snapshots/gone").status == 204)
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try Self.call(client, "GET", "/v1/snapshots/gone").status == 404)
        #expect(try Self.call(client, "DELETE", "/v1/snapshots/gone").status == 404)
        #expect(try Self.call(client, "DELETE", "/v1/snapshots/default").status == 409)
        // The same name again is a new snapshot: nothing of the old one.
        try Self.call(client, "POST", "/v1/snapshots/gone/events", Self.join("new"))
        #expect(try Self.alive(client, "gone") == ["new"])
        process.kill9()
        _ = try process.waitForExit(timeout: 20)
        let (again, client2, _) = try ServiceTests.start(path)
        #expect(try Self.alive(client2, "gone") == ["new"])
        #expect(try ServiceTests.stop(again) == 0)
    }

    @Test func acknowledgedEventsOfEverySnapshotSurviveAKill() throws {
        let (process, client, path) = try ServiceTests.start()
        for i in 0..<40 {
            #expect(try Self.call(client, "POST", "/v1/snapshots/s\(i % 8)/events", Self.join("n\(i)")).status == 200)
        }
        process.kill9()
        _ = try process.waitForExit(timeout: 20)
        let (again, client2, _) = try ServiceTests.start(path)
        for s in 0..<8 {
            let expected = stride(from: s, to: 40, by: 8).map { "n\($0)" }.sorted()
            #expect(try Self.alive(client2, "s\(s)") == expected)
        }
        #expect(try ServiceTests.stop(again) == 0)
    }

    @Test func exportIsAFileAndImportReplacesTheState() throws {
        let (process, client, _) = try ServiceTests.start()
        try Self.call(client, "POST", "/v1/snapshots/src/events", Self.join("x1", ltime: 5))
        try Self.call(client, "POST", "/v1/snapshots/src/events", Self.join("x2"))
        let v1 = try Self.call(client, "GET", "/v1/snapshots/src/export?format=v1")
        #expect(v1.status == 200 && v1.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(v1.text.contains("alive: x1 10.0.0.1:7946") && v1.text.contains("alive: x2 10.0.0.1:7946"))
        let v2 = try Self.call(client, "GET", "/v1/snapshots/src/export")
        #expect(v2.status == 200 && v2.header("content-type") == "application/octet-stream")
        #expect(try Self.call(client, "GET", "/v1/snapshots/src/export?format=v3").status == 400)

        // Into a new snapshot, then over one with records (409 without replace=true).
        let imported = try client.post("/v1/snapshots/dst/import", body: v2.body, contentType: "application/octet-stream")
        try Contract.check(imported, "POST", "/v1/snapshots/dst/import")
        #expect(imported.status == 200, "\(imported.text)")
        #expect(try imported.json()["alive"] as? Int == 2)
        #expect(try Self.alive(client, "dst") == ["x1", "x2"])
        try Self.call(client, "POST", "/v1/snapshots/other/events", Self.join("o1"))
        let refused = try client.post("/v1/snapshots/other/import", body: Array(v1.text.utf8), contentType: "text/plain")
        try Contract.check(refused, "POST", "/v1/snapshots/other/import")
        #expect(refused.status == 409)
        let replaced = try client.post("/v1/snapshots/other/import?replace=true", body: Array(v1.text.utf8), contentType: "text/plain")
        try Contract.check(replaced, "POST", "/v1/snapshots/other/import")
        #expect(replaced.status == 200, "\(replaced.text)")
        #expect(try Self.alive(client, "other") == ["x1", "x2"])
        let garbage = try client.post("/v1/snapshots/junk/import", body: [0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9] + Array(repeating: 0xFF, count: 100),
                                      contentType: "application/octet-stream")
        try Contract.check(garbage, "POST", "/v1/snapshots/junk/import")
        #expect(garbage.status == 400)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// The import is durable: a restart replays the reset and the imported records, not the old ones.
    @Test func anImportedStateIsWhatARestartFinds() throws {
        let (process, client, path) = try ServiceTests.start()
        try Self.call(client, "POST", "/v1/snapshots/t/events", Self.join("before"))
        let file = "alive: after 10.0.0.2:7946\nclock: 3\n"
        let replaced = try client.post("/v1/snapshots/t/import?replace=true", body: Array(file.utf8), contentType: "text/plain")
        #expect(replaced.status == 200)
        process.kill9()
        _ = try process.waitForExit(timeout: 20)
        let (again, client2, _) = try ServiceTests.start(path)
        #expect(try Self.alive(client2, "t") == ["after"])
        #expect(try ServiceTests.stop(again) == 0)
    }

    @Test func limitsAndAutoCreate() throws {
        let (process, client, _) = try ServiceTests.start(nil, ["--max-snapshots", "3", "--no-auto-create"])
        let missing = try Self.call(client, "POST", "/v1/snapshots/one/events", Self.join("x"))
        #expect(missing.status == 404)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/one").status == 201)
        #expect(try Self.call(client, "POST", "/v1/snapshots/one/events", Self.join("x")).status == 200)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/two", #"{"rejoin_after_leave":true}"#).status == 201)
        let over = try Self.call(client, "PUT", "/v1/snapshots/three")
        #expect(over.status == 409 && over.text.contains("max-snapshots"))
        #expect(try Self.call(client, "PUT", "/v1/snapshots/bad", #"{"format":"v9"}"#).status == 400)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/bad", #"{"colour":"red"}"#).status == 400)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/bad", #"{"rejoin_after_leave":1}"#).status == 400)
        #expect(try Self.alive(client, "one") == ["x"])
        let metrics = try client.get("/metrics").text
        #expect(metrics.contains("snapshotd_snapshots 3.0"))
        #expect(metrics.contains("snapshotd_store_alive_nodes 1.0"))
        #expect(metrics.contains("route=\"/v1/snapshots/{name}/events\""))
        #expect(try Self.call(client, "DELETE", "/v1/snapshots/two").status == 204)
        #expect(try Self.call(client, "PUT", "/v1/snapshots/three").status == 201)
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func tokensArePerName() throws {
        let file = try AuthTests.grantsFile("agent-token agent-*\nops-token *\n")
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file])
        let agent = AuthTests.bearer("agent-token"), ops = AuthTests.bearer("ops-token")
        #expect(try Self.call(client, "POST", "/v1/snapshots/agent-7/events", Self.join("a"), headers: agent).status == 200)
        let refused = try Self.call(client, "POST", "/v1/snapshots/other/events", Self.join("a"), headers: agent)
        #expect(refused.status == 403)
        #expect(try Self.call(client, "POST", "/v1/snapshots/other/events", Self.join("a")).status == 401)
        #expect(try Self.call(client, "POST", "/v1/snapshots/other/events", Self.join("a"), headers: ops).status == 200)
        #expect(try Self.call(client, "DELETE", "/v1/snapshots/other", headers: agent).status == 403)
        // Listing shows only the names the token may use.
        let listed = try Self.call(client, "GET", "/v1/snapshots", headers: agent).json()
        let names = (listed["snapshots"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["agent-7"])
        let all = try Self.call(client, "GET", "/v1/snapshots", headers: ops).json()
        #expect((all["snapshots"] as? [Any])?.count == 3)
        #expect(try ServiceTests.stop(process) == 0)
    }
}
