import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// serve's settings: every source (flag, SNAPSHOTD_* variable, --config file) is checked alike
/// and an error names where the bad value came from; a failure at run time exits 1 with one
/// line, 64 (with the usage) is for a wrong command line only.
@Suite struct SettingsTests {
    static func serve(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> ToolTests.ToolRun {
        let dir = directory ?? SnapshotdProcess.makeTempDir()
        return try ToolTests.run(["serve"] + arguments, directory: dir, timeout: 20, environment: environment)
    }

    @Test func badEnvironmentValuesNameTheVariable() throws {
        let cases: [(String, String, String)] = [
            ("SNAPSHOTD_QUEUE_CAPACITY", "abc", "SNAPSHOTD_QUEUE_CAPACITY=abc: expected an integer"),
            ("SNAPSHOTD_QUEUE_CAPACITY", "0", "SNAPSHOTD_QUEUE_CAPACITY=0: expected an integer from 1"),
            ("SNAPSHOTD_QUEUE_WAIT", "soon", "SNAPSHOTD_QUEUE_WAIT=soon: expected seconds"),
            ("SNAPSHOTD_DURABILITY", "maybe", "SNAPSHOTD_DURABILITY=maybe: expected fsync or buffered"),
            ("SNAPSHOTD_FORMAT", "v3", "SNAPSHOTD_FORMAT=v3: expected v1 or v2"),
            ("SNAPSHOTD_LISTEN", "nonsense", "SNAPSHOTD_LISTEN=nonsense: expected HOST:PORT"),
            ("SNAPSHOTD_REJOIN_AFTER_LEAVE", "sure", "SNAPSHOTD_REJOIN_AFTER_LEAVE=sure: expected true or false"),
            ("SNAPSHOTD_PROTECT_READS", "2", "SNAPSHOTD_PROTECT_READS=2: expected true or false"),
            ("SNAPSHOTD_MAX_CONNECTIONS", "-1", "SNAPSHOTD_MAX_CONNECTIONS=-1: expected an integer"),
            ("SNAPSHOTD_LOG_LEVEL", "loud", "SNAPSHOTD_LOG_LEVEL=loud: expected trace"),
        ]
        for (variable, value, message) in cases {
            // (--listen on the command line would win over SNAPSHOTD_LISTEN.)
            let result = try Self.serve(variable == "SNAPSHOTD_LISTEN" ? [] : ["--listen", "127.0.0.1:0"], environment: [variable: value])
            #expect(result.exited && result.status == 1, "\(variable)=\(value): \(result)")
            #expect(result.stderr.contains(message), "\(variable)=\(value): \(result)")
            #expect(!result.stderr.contains("USAGE"), "\(result)")
        }
        // The same values as flags are a wrong command line: 64, naming the flag.
        let flag = try Self.serve(["--listen", "127.0.0.1:0", "--queue-capacity", "abc"])
        #expect(flag.exited && flag.status == 64 && flag.stderr.contains("--queue-capacity \"abc\": expected an integer"), "\(flag)")
    }

    /// Booleans take true/false, 1/0, yes/no, on/off in any case, from the environment.
    @Test func booleansFromTheEnvironment() throws {
        for value in ["TRUE", "Yes", "1", "on"] {
            let process = try SnapshotdProcess(snapshotPath: SnapshotdProcess.makeTempDir() + "/s", environment: ["SNAPSHOTD_REJOIN_AFTER_LEAVE": value])
            #expect(process.stderrText.contains("rejoin_after_leave=true"), "\(value): \(process.stderrText)")
            process.kill9()
        }
        for value in ["false", "No", "0", "OFF"] {
            let process = try SnapshotdProcess(snapshotPath: SnapshotdProcess.makeTempDir() + "/s", environment: ["SNAPSHOTD_REJOIN_AFTER_LEAVE": value])
            #expect(process.stderrText.contains("rejoin_after_leave=false"), "\(value): \(process.stderrText)")
            process.kill9()
        }
    }

    @Test func runTimeFailuresExitOneWithOneLine() throws {
        let dir = SnapshotdProcess.makeTempDir()
        // A port in use.
        let (running, _, _) = try ServiceTests.start()
        let busy = try Self.serve(["--listen", "127.0.0.1:\(running.port)", "--snapshot", dir + "/a/snapshot"])
        #expect(busy.exited && busy.status == 1 && busy.stderr.contains("cannot listen on 127.0.0.1:\(running.port)"), "\(busy)")
        #expect(!busy.stderr.contains("USAGE") && !busy.stderr.contains("listening on"), "\(busy)")
        #expect(try ServiceTests.stop(running) == 0)
        // A snapshot path under a regular file.
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        let under = try Self.serve(["--listen", "127.0.0.1:0", "--snapshot", dir + "/file/snapshot"])
        #expect(under.exited && under.status == 1 && under.stderr.contains("cannot create the snapshot directory \(dir)/file"), "\(under)")
        // An unreadable token file.
        let token = try Self.serve(["--listen", "127.0.0.1:0", "--snapshot", dir + "/b/snapshot", "--token-file", dir + "/missing"])
        #expect(token.exited && token.status == 1 && token.stderr.contains("cannot read the token file \(dir)/missing"), "\(token)")
        // A snapshot that cannot be opened: exit 1, and "listening on" is never logged (it is
        // logged only once the snapshot is open).
        var garbage = [UInt8](repeating: 0, count: 4096)
        for i in garbage.indices { garbage[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
        try FileManager.default.createDirectory(atPath: dir + "/c", withIntermediateDirectories: true)
        try Data(garbage).write(to: URL(fileURLWithPath: dir + "/c/snapshot"))
        let unopenable = try Self.serve(["--listen", "127.0.0.1:0", "--snapshot", dir + "/c/snapshot"])
        #expect(unopenable.exited && unopenable.status == 1, "\(unopenable)")
        #expect(unopenable.stderr.contains("neither a v1 nor a v2 snapshot") && !unopenable.stderr.contains("listening on"), "\(unopenable)")
        #expect(FileManager.default.contents(atPath: dir + "/c/snapshot") == Data(garbage))
        // A missing input to convert.
        let convert = try ToolTests.run(["convert", "--to", "v1", dir + "/nothing", dir + "/out"])
        #expect(convert.exited && convert.status == 1 && convert.stderr.contains("cannot read \(dir)/nothing"), "\(convert)")
        #expect(!convert.stderr.contains("USAGE"), "\(convert)")
        // --protect-reads without a token: a wrong command line as a flag, a failure from the environment.
        let protect = try Self.serve(["--listen", "127.0.0.1:0", "--protect-reads"])
        #expect(protect.exited && protect.status == 64 && protect.stderr.contains("--protect-reads needs a token"), "\(protect)")
        let protectEnv = try Self.serve(["--listen", "127.0.0.1:0"], environment: ["SNAPSHOTD_PROTECT_READS": "yes"])
        #expect(protectEnv.exited && protectEnv.status == 1 && protectEnv.stderr.contains("SNAPSHOTD_PROTECT_READS needs a token"), "\(protectEnv)")
    }

    /// A JSON config file; the environment wins over it, a flag over both.
    @Test func configFile() throws {
        let dir = SnapshotdProcess.makeTempDir()
        let config = dir + "/snapshotd.json"
        try Data(#"{"snapshot": "\#(dir)/from-file/snapshot", "format": "v1", "queue-capacity": 64, "rejoin-after-leave": true}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let process = try SnapshotdProcess(snapshotPath: dir + "/from-flag/snapshot", arguments: ["--config", config],
                                           environment: ["SNAPSHOTD_FORMAT": "v2"])
        #expect(process.stderrText.contains("snapshot=\(dir)/from-flag/snapshot"), "\(process.stderrText)")
        #expect(process.stderrText.contains("format=v2") && process.stderrText.contains("rejoin_after_leave=true"), "\(process.stderrText)")
        let metrics = try CurlClient(baseURL: process.baseURL).get("/metrics").text
        #expect(metrics.contains("snapshotd_queue_capacity_events 64"), "\(metrics.prefix(400))")
        process.kill9()

        let cases: [(String, String)] = [
            (#"{"queue-capacity": "lots"}"#, #"\#(config): "queue-capacity": "lots": expected an integer"#),
            (#"{"queue_capacity": 5}"#, "unknown setting(s): queue_capacity"),
            (#"[1, 2]"#, "is not a JSON object of settings"),
            (#"{"format": "v1""#, "is not a JSON object of settings"),
        ]
        for (text, message) in cases {
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
            let result = try Self.serve(["--listen", "127.0.0.1:0", "--config", config])
            #expect(result.exited && result.status == 1 && result.stderr.contains(message), "\(text): \(result)")
        }
        let missing = try Self.serve(["--listen", "127.0.0.1:0"], environment: ["SNAPSHOTD_CONFIG": dir + "/none.json"])
        #expect(missing.exited && missing.status == 1 && missing.stderr.contains("cannot read the config file \(dir)/none.json"), "\(missing)")
    }

    @Test func versionAndBuildInfo() throws {
        let version = try ToolTests.run(["--version"])
        #expect(version.exited && version.status == 0, "\(version)")
        let printed = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed.split(separator: ".").count == 3, "\(version)")
        let (process, client, _) = try ServiceTests.start(nil, ["--format", "v1"])
        let metrics = try client.get("/metrics").text
        #expect(metrics.contains(#"snapshotd_build_info{version="\#(printed)",format="v1"} 1"#), "\(metrics.prefix(2000))")
        #expect(try ServiceTests.stop(process) == 0)
    }
}
