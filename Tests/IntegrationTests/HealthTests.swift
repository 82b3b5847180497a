import Foundation
import Testing

/// `snapshotd health` (the image's HEALTHCHECK) against the real server: without `--url` it
/// probes /readyz where SNAPSHOTD_LISTEN says `serve` listens, a wildcard address as loopback.
@Suite struct HealthTests {
    static func health(_ arguments: [String] = [], listen: String) throws -> ToolTests.ToolRun {
        try ToolTests.run(["health", "--timeout", "2"] + arguments, timeout: 20, environment: ["SNAPSHOTD_LISTEN": listen])
    }

    @Test func withoutURLItProbesTheListenAddress() throws {
        let server = try SnapshotdProcess(snapshotPath: SnapshotdProcess.makeTempDir() + "/snapshot")
        for listen in ["127.0.0.1:\(server.port)", "0.0.0.0:\(server.port)"] {
            let run = try Self.health(listen: listen)
            #expect(run.exited && run.status == 0, "\(run)")
            #expect(run.stdout.contains("http://127.0.0.1:\(server.port)/readyz: 200"), "\(run)")
        }
        // --url wins over SNAPSHOTD_LISTEN.
        let explicit = try Self.health(["--url", "http://127.0.0.1:\(server.port)/readyz"], listen: "127.0.0.1:1")
        #expect(explicit.exited && explicit.status == 0, "\(explicit)")
    }

    @Test func aListenAddressWhereNothingAnswersIsUnhealthy() throws {
        // Port 1 on loopback: nothing listens there. The derived URL is named in the message.
        let cases = [
            ("127.0.0.1:1", "http://127.0.0.1:1/readyz"), ("0.0.0.0:1", "http://127.0.0.1:1/readyz"),
            ("[::]:1", "http://[::1]:1/readyz"), ("[::1]:1", "http://[::1]:1/readyz"),
        ]
        for (listen, url) in cases {
            let run = try Self.health(listen: listen)
            #expect(run.exited && run.status == 1, "\(run)")
            #expect(run.stderr.contains("snapshotd health: \(url): no answer"), "\(run)")
        }
    }

    @Test func noListenAddressMeansServesDefault() throws {
        // Empty, as unset: serve's default, 127.0.0.1:8080 (whatever answers there, the URL is named).
        let run = try Self.health(listen: "")
        #expect(run.exited && (run.status == 0 || run.status == 1), "\(run)")
        #expect((run.stdout + run.stderr).contains("http://127.0.0.1:8080/readyz"), "\(run)")
    }

    @Test func anAddressWithNoPortToProbeIsAUsageError() throws {
        for listen in ["nonsense", "127.0.0.1:0", "::1:80"] {
            let run = try Self.health(listen: listen)
            #expect(run.exited && run.status != 0 && run.status != 1, "\(run)")
            #expect(run.stderr.contains("SNAPSHOTD_LISTEN"), "\(run)")
        }
    }
}
