import Foundation
import Testing

/// /metrics as Prometheus sees it: promtool checks the text, and a real Prometheus server
/// (Debian's prometheus 2.42) scrapes it on loopback.
@Suite struct MetricsTests {
    static let required = [
        "snapshotd_queue_depth_events", "snapshotd_queue_capacity_events", "snapshotd_events_accepted_total",
        "snapshotd_events_refused_total", "snapshotd_flush_duration_seconds_bucket", "snapshotd_fsync_duration_seconds_bucket",
        "snapshotd_compactions_total", "snapshotd_compaction_duration_seconds_bucket", "snapshotd_snapshot_file_bytes",
        "snapshotd_alive_nodes", "snapshotd_replay_skipped_records", "snapshotd_http_requests_total",
        "snapshotd_log_bytes", "snapshotd_log_since_checkpoint_bytes", "snapshotd_replay_log_records",
        "snapshotd_http_request_duration_seconds_bucket", "snapshotd_http_open_connections",
    ]

    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe(), input = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// A port nothing listens on now: bound to port 0, read back, released.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CurlError(message: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CurlError(message: "bind: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func metricsPassPromtoolAndNameEverySeries() throws {
        let (process, client, _) = try ServiceTests.start()
        try ServiceTests.postGoScenario(client)
        _ = try client.post("/v1/compact", body: [])
        let response = try client.get("/metrics")
        try Contract.check(response, "GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        for name in Self.required {
            #expect(response.text.contains(name), "missing \(name)")
        }
        #expect(response.text.contains(#"snapshotd_events_accepted_total{type="member-join"} 2"#))
        let (status, output) = try Self.run("/usr/bin/promtool", ["check", "metrics"], stdin: Data(response.body))
        #expect(status == 0, "promtool: \(output)")
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// The three clocks, leaving and readiness as gauges, following a leave and a rejoin.
    @Test func clockLeavingAndReadinessGauges() throws {
        let (process, client, _) = try ServiceTests.start()
        try ServiceTests.postGoScenario(client)
        func metric(_ name: String) throws -> String? {
            try client.get("/metrics").text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map(String.init)
        }
        #expect(try metric("snapshotd_clock") == "snapshotd_clock 100.0")
        #expect(try metric("snapshotd_event_clock") == "snapshotd_event_clock 42.0")
        #expect(try metric("snapshotd_query_clock") == "snapshotd_query_clock 50.0")
        #expect(try metric("snapshotd_leaving") == "snapshotd_leaving 0.0")
        #expect(try metric("snapshotd_ready") == "snapshotd_ready 1.0")
        #expect(try ServiceTests.post(client, "/v1/leave", "").status == 200)
        #expect(try metric("snapshotd_leaving") == "snapshotd_leaving 1.0")
        #expect(try metric("snapshotd_ready") == "snapshotd_ready 1.0")
        #expect(try ServiceTests.post(client, "/v1/rejoin", "").status == 200)
        #expect(try metric("snapshotd_leaving") == "snapshotd_leaving 0.0")
        #expect(try metric("snapshotd_event_clock") == "snapshotd_event_clock 0.0")
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func prometheusScrapesTheSeries() throws {
        let (process, client, _) = try ServiceTests.start()
        try ServiceTests.postGoScenario(client)
        let dir = SnapshotdProcess.makeTempDir()
        let port = URL(string: process.baseURL)?.port ?? 0
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: snapshotd
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            """
        try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        let promPort = try Self.freePort()
        prometheus.arguments = [
            "--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb",
            "--web.listen-address=127.0.0.1:\(promPort)",
        ]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        let api = CurlClient(baseURL: "http://127.0.0.1:\(promPort)")
        var found = false
        let deadline = Date().addingTimeInterval(60)
        while !found && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            guard let answer = try? api.get("/api/v1/query?query=snapshotd_events_accepted_total%7Btype%3D%22user%22%7D"),
                  answer.status == 200 else { continue }
            found = answer.text.contains(#""type":"user""#) && answer.text.contains(#""1"]"#)
        }
        #expect(found, "Prometheus never showed snapshotd_events_accepted_total{type=\"user\"} = 1")
        let up = try api.get("/api/v1/query?query=up%7Bjob%3D%22snapshotd%22%7D")
        #expect(up.text.contains(#""1"]"#))
        #expect(try ServiceTests.stop(process) == 0)
    }
}
