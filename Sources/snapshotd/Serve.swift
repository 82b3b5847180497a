import ArgumentParser
import Dispatch
import Foundation
import HTTPServer
import Logging
import SnapshotCore
import SnapshotService

/// `snapshotd serve`: the service. Every flag can also come from an environment variable.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the snapshot API.")

    static let environment = ProcessInfo.processInfo.environment

    @Option(help: "Address to listen on, HOST:PORT or [IPV6]:PORT; port 0 picks a free port. (SNAPSHOTD_LISTEN)")
    var listen = environment["SNAPSHOTD_LISTEN"] ?? "127.0.0.1:8080"

    @Option(help: "Path of the snapshot file; its directory is created. (SNAPSHOTD_SNAPSHOT)")
    var snapshot = environment["SNAPSHOTD_SNAPSHOT"] ?? "./data/snapshot"

    @Option(help: "fsync: answer once durable; buffered: Go serf's behaviour. (SNAPSHOTD_DURABILITY)")
    var durability = environment["SNAPSHOTD_DURABILITY"] ?? "fsync"

    @Option(help: "Format of a new snapshot: v2 (checksummed) or v1 (Go serf's text); an existing file keeps its own. (SNAPSHOTD_FORMAT)")
    var format = environment["SNAPSHOTD_FORMAT"] ?? "v2"

    @Option(help: "Events the intake queue holds. (SNAPSHOTD_QUEUE_CAPACITY)")
    var queueCapacity = Int(environment["SNAPSHOTD_QUEUE_CAPACITY"] ?? "") ?? 2048

    @Option(help: "Seconds an ingest request waits for queue space before 503. (SNAPSHOTD_QUEUE_WAIT)")
    var queueWait = Double(environment["SNAPSHOTD_QUEUE_WAIT"] ?? "") ?? 1.0

    @Option(help: "Compaction threshold floor in bytes. (SNAPSHOTD_MIN_COMPACT_SIZE)")
    var minCompactSize = Int64(environment["SNAPSHOTD_MIN_COMPACT_SIZE"] ?? "") ?? 128 * 1024

    @Flag(help: "Keep the alive set across a leave, and ignore a replayed leave. (SNAPSHOTD_REJOIN_AFTER_LEAVE=1)")
    var rejoinAfterLeave = ["1", "true", "yes"].contains(environment["SNAPSHOTD_REJOIN_AFTER_LEAVE"] ?? "")

    @Option(help: "trace, debug, info, notice, warning, error or critical. (SNAPSHOTD_LOG_LEVEL)")
    var logLevel = environment["SNAPSHOTD_LOG_LEVEL"] ?? "info"

    @Option(help: "Most open connections; more are answered 503. (SNAPSHOTD_MAX_CONNECTIONS)")
    var maxConnections = Int(environment["SNAPSHOTD_MAX_CONNECTIONS"] ?? "") ?? 1024

    @Option(help: "Seconds to receive a request head before 408. (SNAPSHOTD_HEADER_TIMEOUT)")
    var headerTimeout = Double(environment["SNAPSHOTD_HEADER_TIMEOUT"] ?? "") ?? 10

    @Option(help: "Seconds an idle keep-alive connection stays open. (SNAPSHOTD_IDLE_TIMEOUT)")
    var idleTimeout = Double(environment["SNAPSHOTD_IDLE_TIMEOUT"] ?? "") ?? 60

    @Option(help: "Largest request body in bytes (413 above). (SNAPSHOTD_MAX_BODY_BYTES)")
    var maxBodyBytes = Int(environment["SNAPSHOTD_MAX_BODY_BYTES"] ?? "") ?? 4 * 1024 * 1024

    @Option(help: "Largest request line plus headers in bytes (431 above). (SNAPSHOTD_MAX_HEADER_BYTES)")
    var maxHeaderBytes = Int(environment["SNAPSHOTD_MAX_HEADER_BYTES"] ?? "") ?? 16 * 1024

    @Option(help: "File holding a bearer token required by routes that change state. (SNAPSHOTD_TOKEN_FILE)")
    var tokenFile: String?

    @Flag(help: "With a token, protect the read routes too. (SNAPSHOTD_PROTECT_READS=1)")
    var protectReads = ["1", "true", "yes"].contains(environment["SNAPSHOTD_PROTECT_READS"] ?? "")

    // Not initialised from the environment: ArgumentParser refuses a flag whose default is true.
    @Flag(help: "Log every request at info: method, path, status, seconds, client. (SNAPSHOTD_ACCESS_LOG=1)")
    var accessLog = false

    @Option(help: .hidden)
    var simulateSyncDelayMs = 0

    func validate() throws {
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT or [IPV6]:PORT, not \(listen.debugDescription)") }
        guard EngineConfiguration.Durability(rawValue: durability) != nil else { throw ValidationError("--durability must be fsync or buffered") }
        guard SnapshotFormat(rawValue: format) != nil else { throw ValidationError("--format must be v1 or v2") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel.debugDescription) is not a log level") }
        guard queueCapacity > 0 else { throw ValidationError("--queue-capacity must be positive") }
        guard queueWait >= 0 else { throw ValidationError("--queue-wait must not be negative") }
        guard minCompactSize > 0 else { throw ValidationError("--min-compact-size must be positive") }
        guard (0...60_000).contains(simulateSyncDelayMs) else { throw ValidationError("--simulate-sync-delay-ms must be 0...60000") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard headerTimeout > 0, idleTimeout > 0 else { throw ValidationError("--header-timeout and --idle-timeout must be positive") }
        guard maxBodyBytes > 0, maxHeaderBytes >= 256 else { throw ValidationError("--max-body-bytes must be positive and --max-header-bytes at least 256") }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "snapshotd")
        guard let address = ListenAddress(listen) else { throw ValidationError("bad --listen") }

        var service = ServiceConfiguration()
        service.queueWait = queueWait
        if let tokenFile = tokenFile ?? Self.environment["SNAPSHOTD_TOKEN_FILE"] {
            let token = try readToken(tokenFile)
            service.bearerToken = token
            service.protectReads = protectReads
        } else if !address.isLoopback {
            logger.warning("listening on a non-loopback address without a token: anyone who reaches it can change the snapshot", metadata: ["listen": "\(listen)"])
        }

        let directory = snapshot.lastIndex(of: "/").map { String(snapshot[..<$0]) } ?? ""
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("cannot create the snapshot directory \(directory): \(error.localizedDescription)")
            }
        }

        let metrics = ServiceMetrics()
        let api = SnapshotAPI(metrics: metrics, configuration: service, logger: logger)
        var hooks = api.hooks
        let count = hooks.responseSent
        let accessLogOn = accessLog || ["1", "true", "yes"].contains((Self.environment["SNAPSHOTD_ACCESS_LOG"] ?? "").lowercased())
        let accessLevel: Logger.Level = accessLogOn ? .info : .debug
        hooks.responseSent = { method, path, status, seconds, client in
            count?(method, path, status, seconds, client)
            logger.log(level: accessLevel, "\(method.isEmpty ? "-" : method) \(path.isEmpty ? "-" : path) \(status) \(String(format: "%.6f", seconds))s",
                       metadata: ["client": "\(client)"])
        }
        var http = HTTPServerConfiguration()
        http.host = address.host
        http.port = address.port
        http.maxConnections = try DescriptorLimit.connections(maxConnections, logger: logger)
        http.headerTimeout = headerTimeout
        http.idleTimeout = idleTimeout
        http.maxBodyBytes = maxBodyBytes
        http.maxHeaderBytes = maxHeaderBytes
        let server = HTTPServer(configuration: http, hooks: hooks, handler: api.router.handler)
        let bound: (host: String, port: UInt16)
        do {
            bound = try server.start()
        } catch {
            throw ValidationError("cannot listen on \(listen): \(error)")
        }
        logger.info("listening on \(ListenAddress.url(host: bound.host, port: bound.port))",
                    metadata: ["snapshot": "\(snapshot)", "durability": "\(durability)"])

        var engineConfiguration = EngineConfiguration()
        engineConfiguration.durability = EngineConfiguration.Durability(rawValue: durability) ?? .fsync
        engineConfiguration.format = SnapshotFormat(rawValue: format) ?? .v2
        engineConfiguration.queueCapacity = queueCapacity
        engineConfiguration.minCompactSize = minCompactSize
        engineConfiguration.rejoinAfterLeave = rejoinAfterLeave
        engineConfiguration.observer = metrics
        if simulateSyncDelayMs > 0 {
            engineConfiguration.io = SlowDiskFileIO(delayMicroseconds: UInt32(simulateSyncDelayMs) * 1000)
        }
        let path = snapshot
        let engineSettings = engineConfiguration

        let lifecycle = Lifecycle(server: server, api: api, logger: logger)
        lifecycle.installSignalHandlers()
        // Replay can take a while on a large file: /healthz answers meanwhile and /readyz says
        // "starting". It runs on its own thread, since it blocks on the disk.
        Thread.detachNewThread {
            do {
                let engine = try SnapshotEngine(path: path, configuration: engineSettings)
                let report = engine.replayReport
                for skip in report.skipped {
                    logger.warning("replay skipped a record", metadata: ["offset": "\(skip.offset)", "length": "\(skip.length)", "reason": "\(skip.reason)"])
                }
                if report.tornTailBytes > 0 {
                    logger.warning("replay truncated a torn last record", metadata: ["bytes": "\(report.tornTailBytes)"])
                }
                api.attach(engine)
                logger.info("snapshot ready", metadata: [
                    "records": "\(report.records)", "skipped": "\(report.skipped.count)",
                    "alive": "\(engine.status.state.aliveNodes.count)", "clock": "\(engine.status.state.lastClock)",
                ])
            } catch {
                api.failedToStart("\(error)")
                logger.critical("cannot open the snapshot: \(error)")
                lifecycle.fail()
            }
        }
        dispatchMain()
    }

    private func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ValidationError("the token file \(path) is empty") }
        return token
    }
}
