import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One process owns a snapshot: a second server, or an offline tool that writes, is refused
/// while a server holds it; a killed server's lock never blocks a restart.
@Suite struct OwnershipTests {
    @Test func secondServerOnTheSameSnapshotIsRefused() throws {
        let (first, client, path) = try ServiceTests.start()
        #expect(try ServiceTests.post(client, "/v1/events", #"{"type":"user","ltime":5,"name":"x"}"#).status == 200)
        let second = try ToolTests.run(["serve", "--listen", "127.0.0.1:0", "--snapshot", path], timeout: 20)
        #expect(second.exited && second.status == 1, "\(second)")
        #expect(second.stderr.contains("the snapshot \(path) is in use: another process (PID \(first.pid)) holds \(path).lock"), "\(second)")
        #expect(!second.stderr.contains("USAGE"), "\(second)")
        // The first server is untouched: what it acknowledged is there.
        #expect(try ServiceTests.post(client, "/v1/events", #"{"type":"user","ltime":6,"name":"x"}"#).status == 200)
        #expect(try ServiceTests.snapshot(client).event_clock == 6)

        // Offline tools that write are refused the same way; the ones that read are not.
        let compact = try ToolTests.run(["compact", path])
        #expect(compact.exited && compact.status == 1 && compact.stderr.contains("is in use"), "\(compact)")
        let other = SnapshotdProcess.makeTempDir() + "/other"
        try Data("alive: a 1.1.1.1:1\n".utf8).write(to: URL(fileURLWithPath: other))
        let convert = try ToolTests.run(["convert", "--to", "v2", other, path])
        #expect(convert.exited && convert.status == 1 && convert.stderr.contains("is in use"), "\(convert)")
        let verify = try ToolTests.run(["verify", path])
        #expect(verify.exited && verify.status == 0, "\(verify)")
        let inspect = try ToolTests.run(["inspect", path])
        #expect(inspect.exited && inspect.status == 0, "\(inspect)")
        #expect(try ServiceTests.stop(first) == 0)
        #expect(try ToolTests.inspect(path).event_clock == 6)

        // Once the server is gone, the tools may write.
        let compactAfter = try ToolTests.run(["compact", path])
        #expect(compactAfter.exited && compactAfter.status == 0, "\(compactAfter)")
    }

    /// kill -9 leaves no stale lock behind: the kernel drops it with the process.
    @Test func killedServerNeverBlocksARestart() throws {
        let (first, client, path) = try ServiceTests.start()
        #expect(try ServiceTests.post(client, "/v1/events", #"{"type":"user","ltime":8,"name":"x"}"#).status == 200)
        first.kill9()
        let (again, client2, _) = try ServiceTests.start(path)
        #expect(try ServiceTests.snapshot(client2).event_clock == 8)
        #expect(try ServiceTests.stop(again) == 0)
    }
}
