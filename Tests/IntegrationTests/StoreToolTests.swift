import Foundation
import Testing

/// The offline tools on a whole store (`--data-dir`): inspect and verify every snapshot, export
/// one as a file Go serf reads, import a file into one (never while a server holds the store).
@Suite struct StoreToolTests {
    @Test func inspectVerifyExportAndImportAStore() throws {
        let dataDir = SnapshotdProcess.makeTempDir() + "/data"
        let (process, client, _) = try ServiceTests.start(dataDir + "/snapshot")
        for (name, node) in [("alpha", "a1"), ("beta", "b1"), ("beta", "b2")] {
            #expect(try client.post("/v1/snapshots/\(name)/events", json: NamedSnapshotTests.join(node)).status == 200)
        }
        // Not while it is served: the import takes the store's locks.
        let file = SnapshotdProcess.makeTempDir() + "/in.v1"
        try "alive: g1 10.9.9.9:7946\nclock: 4\n".write(toFile: file, atomically: true, encoding: .utf8)
        let busy = try ToolTests.run(["import", "gamma", file, "--data-dir", dataDir])
        #expect(busy.status == 1 && busy.stderr.contains("lock"), "\(busy)")
        #expect(try ServiceTests.stop(process) == 0)

        let inspect = try ToolTests.run(["inspect", "--data-dir", dataDir, "--json"])
        #expect(inspect.status == 0, "\(inspect)")
        let summary = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        let entries = summary?["snapshots"] as? [[String: Any]] ?? []
        #expect(entries.map { $0["name"] as? String } == ["alpha", "beta", "default"])
        #expect(entries.map { $0["alive"] as? Int } == [1, 2, 0])
        #expect(summary?["clean"] as? Bool == true)
        let one = try ToolTests.run(["inspect", "--data-dir", dataDir, "--name", "beta", "--json"])
        #expect(one.status == 0 && one.stdout.contains("\"b2\""), "\(one)")
        #expect(try ToolTests.run(["verify", "--data-dir", dataDir]).status == 0)

        let exported = SnapshotdProcess.makeTempDir() + "/beta.v1"
        #expect(try ToolTests.run(["export", "beta", "--data-dir", dataDir, "--format", "v1", "--output", exported]).status == 0)
        let text = try String(contentsOfFile: exported, encoding: .utf8)
        #expect(text.contains("alive: b1 10.0.0.1:7946") && text.contains("alive: b2 10.0.0.1:7946"))
        #expect(try ToolTests.run(["export", "nobody", "--data-dir", dataDir]).status == 1)
        #expect(try ToolTests.run(["export", "../x", "--data-dir", dataDir]).status == 64)

        let imported = try ToolTests.run(["import", "gamma", file, "--data-dir", dataDir])
        #expect(imported.status == 0, "\(imported)")
        let refused = try ToolTests.run(["import", "beta", file, "--data-dir", dataDir])
        #expect(refused.status == 1 && refused.stderr.contains("replace"), "\(refused)")
        #expect(try ToolTests.run(["import", "beta", file, "--data-dir", dataDir, "--replace"]).status == 0)
        let (again, client2, _) = try ServiceTests.start(dataDir + "/snapshot")
        #expect(try NamedSnapshotTests.alive(client2, "gamma") == ["g1"])
        #expect(try NamedSnapshotTests.alive(client2, "beta") == ["g1"])
        #expect(try NamedSnapshotTests.alive(client2, "alpha") == ["a1"])
        #expect(try ServiceTests.stop(again) == 0)

        // Damage in a named snapshot's file, and a file the store cannot explain: verify says so.
        let alpha = dataDir + "/snapshots/alpha"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: alpha)))
        bytes[bytes.count - 3] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: alpha))
        let damaged = try ToolTests.run(["verify", "--data-dir", dataDir])
        #expect(damaged.status == 1 && damaged.stdout.contains("alpha") && damaged.stdout.contains("DAMAGED"), "\(damaged)")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dataDir + "/snapshots/stray"))
        let stray = try ToolTests.run(["inspect", "--data-dir", dataDir])
        #expect(stray.stdout.contains("unexplained: \(dataDir)/snapshots/stray"), "\(stray)")
        // The tools changed nothing.
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: alpha))) == bytes)
    }
}
