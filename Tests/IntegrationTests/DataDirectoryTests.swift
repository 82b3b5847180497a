import Foundation
import Testing

/// The store on disk: `--data-dir DIR` holds the snapshot file and the write-ahead log, a clean
/// stop leaves a complete snapshot file and an empty log, `--snapshot PATH` keeps working with
/// the log beside PATH, and one process owns a store.
@Suite struct DataDirectoryTests {
    static func files(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    static func client(_ process: SnapshotdProcess) throws -> CurlClient {
        let client = CurlClient(baseURL: process.baseURL)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let ready = try? client.get("/readyz"), ready.status == 200 { return client }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw CurlError(message: "snapshotd never became ready: \(process.stderrText)")
    }

    @Test func dataDirHoldsTheSnapshotAndItsLog() throws {
        let dir = SnapshotdProcess.makeTempDir() + "/store"
        let process = try SnapshotdProcess(snapshotPath: nil, arguments: ["--data-dir", dir, "--format", "v1"])
        let client = try Self.client(process)
        for i in 0..<20 {
            let response = try ServiceTests.post(client, "/v1/events", #"{"type":"member-join","members":[{"name":"n\#(i)","addr":"10.0.0.\#(i)","port":7946}],"ltime":\#(i + 1)}"#)
            #expect(response.status == 200, "\(response.text)")
        }
        // While serving: the file (the first, empty checkpoint) and the log's segments.
        #expect(Self.files(dir).contains("snapshot") && Self.files(dir).contains("wal"), "\(Self.files(dir))")
        #expect(Self.files(dir + "/wal").contains { $0.hasSuffix(".wal") }, "\(Self.files(dir + "/wal"))")
        #expect(process.stderrText.contains("log=\(dir)/wal"), "\(process.stderrText)")
        #expect(try ServiceTests.stop(process) == 0)

        // At rest: a complete v1 snapshot (Go's text, the position on a comment line) and an empty log.
        #expect(Self.files(dir + "/wal").filter { $0.hasSuffix(".wal") }.isEmpty, "\(Self.files(dir + "/wal"))")
        let text = String(decoding: FileManager.default.contents(atPath: dir + "/snapshot") ?? Data(), as: UTF8.self)
        #expect(text.hasPrefix("# serf snapshot v1") && text.contains("# snapshotd log position: "), "\(text)")
        #expect((0..<20).allSatisfy { text.contains("alive: n\($0) 10.0.0.\($0):7946\n") }, "\(text)")
        #expect(text.contains("clock: 20\n"), "\(text)")

        // And it is the snapshot the next start serves, through --snapshot as well.
        let (again, client2, _) = try ServiceTests.start(dir + "/snapshot")
        #expect(try ServiceTests.snapshot(client2).alive_nodes.count == 20)
        #expect(try ServiceTests.stop(again) == 0)
    }

    @Test func killedServerLeavesTheLogAndLosesNothing() throws {
        let dir = SnapshotdProcess.makeTempDir() + "/store"
        let process = try SnapshotdProcess(snapshotPath: nil, arguments: ["--data-dir", dir])
        let client = try Self.client(process)
        for i in 0..<50 {
            let response = try ServiceTests.post(client, "/v1/events", #"{"type":"user","ltime":\#(i + 1),"name":"deploy"}"#)
            #expect(response.status == 200)
        }
        process.kill9()
        let inspect = try ToolTests.inspect(dir + "/snapshot")
        #expect(inspect.event_clock == 50 && inspect.log.replayed == 50 && inspect.log.segments >= 1, "\(inspect)")
        let restarted = try SnapshotdProcess(snapshotPath: nil, arguments: ["--data-dir", dir])
        let client2 = try Self.client(restarted)
        #expect(try ServiceTests.snapshot(client2).event_clock == 50)
        #expect(restarted.stderrText.contains("log_records_replayed=50"), "\(restarted.stderrText)")
        #expect(try ServiceTests.stop(restarted) == 0)
    }

    /// Two snapshot files in one directory share its log: the second server is refused.
    @Test func oneProcessOwnsTheLog() throws {
        let dir = SnapshotdProcess.makeTempDir()
        let (first, _, _) = try ServiceTests.start(dir + "/a")
        let second = try SettingsTests.serve(["--listen", "127.0.0.1:0", "--snapshot", dir + "/b"])
        #expect(second.exited && second.status == 1, "\(second)")
        #expect(second.stderr.contains("\(dir)/wal.lock") && second.stderr.contains("PID \(first.pid)"), "\(second)")
        #expect(try ServiceTests.stop(first) == 0)
    }

    @Test func dataDirAndSnapshotConflict() throws {
        let dir = SnapshotdProcess.makeTempDir()
        let both = try SettingsTests.serve(["--listen", "127.0.0.1:0", "--data-dir", dir + "/d", "--snapshot", dir + "/s"])
        #expect(both.exited && both.status == 64 && both.stderr.contains("give --data-dir or --snapshot, not both"), "\(both)")
        let environment = try SettingsTests.serve(["--listen", "127.0.0.1:0"],
                                                  environment: ["SNAPSHOTD_DATA_DIR": dir + "/d", "SNAPSHOTD_SNAPSHOT": dir + "/s"])
        #expect(environment.exited && environment.status == 1 && environment.stderr.contains("give one"), "\(environment)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/d") && !FileManager.default.fileExists(atPath: dir + "/s"))
        // A flag beats the other setting's variable (the image sets SNAPSHOTD_SNAPSHOT).
        let process = try SnapshotdProcess(snapshotPath: nil, arguments: ["--data-dir", dir + "/d"],
                                           environment: ["SNAPSHOTD_SNAPSHOT": dir + "/s"])
        _ = try Self.client(process)
        #expect(FileManager.default.fileExists(atPath: dir + "/d/snapshot") && !FileManager.default.fileExists(atPath: dir + "/s"))
        #expect(try ServiceTests.stop(process) == 0)
    }
}
