import ArgumentParser
import Logging
import SnapshotCore

/// Everything `serve` is configured with, resolved from its sources (`SettingSources`) and
/// checked: the flags' defaults are here and nowhere else.
struct ServeSettings {
    var listenText = "127.0.0.1:8080"
    var listen = ListenAddress("127.0.0.1:8080") ?? ListenAddress(host: "127.0.0.1", port: 8080)
    /// The snapshot file: `--snapshot`, or `snapshot` in the data directory (`--data-dir`,
    /// default ./data); the log is `wal` beside it either way.
    var snapshot = "./data/snapshot"
    var segmentSize = 64 << 20
    var durability = EngineConfiguration.Durability.fsync
    var format = SnapshotFormat.v2
    var queueCapacity = 2048
    var maxSnapshots = 10_000
    var autoCreate = true
    var queueWait = 1.0
    var minCompactSize = 128 * 1024
    var rejoinAfterLeave = false
    var logLevel = Logger.Level.info
    var maxConnections = 1024
    /// nil: `HTTPServerConfiguration`'s default.
    var httpThreads: Int?
    var headerTimeout = 10.0
    var idleTimeout = 60.0
    var maxBodyBytes = 4 * 1024 * 1024
    var maxHeaderBytes = 16 * 1024
    var tokenFile: String?
    var protectReads = false
    var accessLog = false
    var simulateSyncDelayMs = 0

    /// The names of every setting (the config file's keys).
    static let names: Set<String> = [
        "listen", "data-dir", "snapshot", "segment-size", "durability", "format", "queue-capacity", "queue-wait", "min-compact-size",
        "rejoin-after-leave", "log-level", "max-connections", "http-threads", "header-timeout", "idle-timeout", "max-body-bytes",
        "max-header-bytes", "token-file", "protect-reads", "access-log", "max-snapshots", "auto-create",
    ]

    /// Resolves every setting of `options` (the command line) over `sources`.
    static func resolve(_ options: Serve, _ sources: SettingSources) throws -> ServeSettings {
        var s = ServeSettings()
        s.listenText = try sources.value("listen", flag: options.listen, default: s.listenText,
                                         expected: "HOST:PORT or [IPV6]:PORT") { ListenAddress($0) == nil ? nil : $0 }
        s.listen = ListenAddress(s.listenText) ?? s.listen
        let dataDirectory = try sources.value("data-dir", flag: options.dataDir, default: nil, expected: "a path") { $0.isEmpty ? nil : $0 }
        let snapshot = try sources.value("snapshot", flag: options.snapshot, default: nil, expected: "a path") { $0.isEmpty ? nil : $0 }
        // A flag beats the other setting's environment variable or config key.
        if options.dataDir != nil && options.snapshot != nil { throw ValidationError("give --data-dir or --snapshot, not both") }
        let directory = options.snapshot == nil ? dataDirectory : nil
        let file = options.dataDir == nil ? snapshot : nil
        if let directory, let file {
            throw Failure("both a data directory (\(directory)) and a snapshot file (\(file)) are set, by SNAPSHOTD_DATA_DIR, SNAPSHOTD_SNAPSHOT or the config file: give one")
        }
        if let directory {
            s.snapshot = (directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory) + "/snapshot"
        } else if let file {
            s.snapshot = file
        }
        s.segmentSize = try sources.value("segment-size", flag: options.segmentSize, default: s.segmentSize,
                                          expected: "a byte count from 4096 to 2^32", SettingParse.int(in: 4096...(1 << 32)))
        s.durability = try sources.value("durability", flag: options.durability, default: s.durability,
                                         expected: "fsync or buffered", SettingParse.oneOf(EngineConfiguration.Durability.self))
        s.format = try sources.value("format", flag: options.format, default: s.format, expected: "v1 or v2", SettingParse.oneOf(SnapshotFormat.self))
        s.queueCapacity = try sources.value("queue-capacity", flag: options.queueCapacity, default: s.queueCapacity,
                                            expected: "an integer from 1 to 16777216", SettingParse.int(in: 1...(1 << 24)))
        s.maxSnapshots = try sources.value("max-snapshots", flag: options.maxSnapshots, default: s.maxSnapshots,
                                           expected: "an integer from 1 to 1000000", SettingParse.int(in: 1...1_000_000))
        s.autoCreate = try sources.value("auto-create", flag: options.autoCreate.map { $0 ? "true" : "false" },
                                         default: s.autoCreate, expected: "true or false (1/0, yes/no)", SettingParse.bool)
        s.queueWait = try sources.value("queue-wait", flag: options.queueWait, default: s.queueWait,
                                        expected: "seconds from 0 to 3600", SettingParse.seconds(in: 0...3600))
        s.minCompactSize = try sources.value("min-compact-size", flag: options.minCompactSize, default: s.minCompactSize,
                                             expected: "a byte count from 1 to 2^40", SettingParse.int(in: 1...(1 << 40)))
        s.rejoinAfterLeave = try sources.value("rejoin-after-leave", flag: options.rejoinAfterLeave.map { $0 ? "true" : "false" },
                                               default: s.rejoinAfterLeave, expected: "true or false (1/0, yes/no)", SettingParse.bool)
        s.logLevel = try sources.value("log-level", flag: options.logLevel, default: s.logLevel,
                                       expected: "trace, debug, info, notice, warning, error or critical", SettingParse.oneOf(Logger.Level.self))
        s.maxConnections = try sources.value("max-connections", flag: options.maxConnections, default: s.maxConnections,
                                             expected: "an integer from 1 to 1048576", SettingParse.int(in: 1...(1 << 20)))
        s.httpThreads = try sources.value("http-threads", flag: options.httpThreads, default: nil,
                                          expected: "an integer from 1 to 256") { text -> Int?? in
            SettingParse.int(in: 1...256)(text).map { .some($0) }
        }
        s.headerTimeout = try sources.value("header-timeout", flag: options.headerTimeout, default: s.headerTimeout,
                                            expected: "seconds from 0.001 to 3600", SettingParse.seconds(in: 0.001...3600))
        s.idleTimeout = try sources.value("idle-timeout", flag: options.idleTimeout, default: s.idleTimeout,
                                          expected: "seconds from 0.001 to 86400", SettingParse.seconds(in: 0.001...86400))
        s.maxBodyBytes = try sources.value("max-body-bytes", flag: options.maxBodyBytes, default: s.maxBodyBytes,
                                           expected: "a byte count from 1 to 2^31", SettingParse.int(in: 1...(1 << 31)))
        s.maxHeaderBytes = try sources.value("max-header-bytes", flag: options.maxHeaderBytes, default: s.maxHeaderBytes,
                                             expected: "a byte count from 256 to 1048576", SettingParse.int(in: 256...(1 << 20)))
        s.tokenFile = try sources.value("token-file", flag: options.tokenFile, default: nil, expected: "a path") { $0.isEmpty ? nil : $0 }
        s.protectReads = try sources.value("protect-reads", flag: options.protectReads.map { $0 ? "true" : "false" },
                                           default: s.protectReads, expected: "true or false (1/0, yes/no)", SettingParse.bool)
        s.accessLog = try sources.value("access-log", flag: options.accessLog.map { $0 ? "true" : "false" },
                                        default: s.accessLog, expected: "true or false (1/0, yes/no)", SettingParse.bool)
        s.simulateSyncDelayMs = try SettingParse.int(in: 0...60_000)(options.simulateSyncDelayMs ?? "0")
            .orThrow(ValidationError("--simulate-sync-delay-ms must be 0...60000"))
        if s.protectReads && s.tokenFile == nil {
            let origin = sources.origin("protect-reads", flagGiven: options.protectReads != nil) ?? "--protect-reads"
            let message = "\(origin) needs a token: give --token-file (or SNAPSHOTD_TOKEN_FILE)"
            if options.protectReads != nil { throw ValidationError(message) }
            throw Failure(message)
        }
        return s
    }
}

extension ListenAddress {
    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
