import ArgumentParser
import Dispatch
import Foundation
import HTTPServer
import Logging
import SnapshotCore
import SnapshotService

/// `snapshotd serve`: the service. Every setting comes from its flag, its `SNAPSHOTD_*`
/// environment variable or the config file (`SettingSources`), in that order.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the snapshot API.",
        discussion: """
            Every setting can also come from the environment (SNAPSHOTD_ and the flag's name in \\
            capitals, - as _, e.g. SNAPSHOTD_QUEUE_CAPACITY) or from a JSON config file \\
            (--config or SNAPSHOTD_CONFIG; keys are the flags' names, e.g. {"queue-capacity": 4096}). \\
            A flag wins over the environment, the environment over the file. Booleans take \\
            true/false, 1/0, yes/no or on/off, in any case.
            """)

    @Option(help: "A JSON file of settings, keyed by flag names. (SNAPSHOTD_CONFIG)")
    var config: String?

    @Option(help: "Address to listen on, HOST:PORT or [IPV6]:PORT; port 0 picks a free port. (default: 127.0.0.1:8080)")
    var listen: String?

    @Option(help: "The store's directory, created if missing: the snapshot file DIR/snapshot and the write-ahead log DIR/wal. (default: ./data)")
    var dataDir: String?

    @Option(help: "Path of the snapshot file instead (its directory holds the log, wal/); not with --data-dir.")
    var snapshot: String?

    @Option(help: "Bytes at which the write-ahead log's segments are cut (each preallocated to it). (default: 67108864)")
    var segmentSize: String?

    @Option(help: "fsync: answer once durable; buffered: Go serf's behaviour. (default: fsync)")
    var durability: String?

    @Option(help: "Format of a new snapshot: v2 (checksummed) or v1 (Go serf's text); an existing file keeps its own. (default: v2)")
    var format: String?

    @Option(help: "Events the intake queue holds. (default: 2048)")
    var queueCapacity: String?

    @Option(help: "The most snapshots the store holds, default included: one more is refused with 409. (default: 10000)")
    var maxSnapshots: String?

    @Flag(inversion: .prefixedNo, help: "A first write to an unknown snapshot creates it with the server's options. (default: on)")
    var autoCreate: Bool?

    @Option(help: "Seconds an ingest request waits for queue space before 503. (default: 1)")
    var queueWait: String?

    @Option(help: "Compaction threshold floor in bytes. (default: 131072)")
    var minCompactSize: String?

    @Flag(inversion: .prefixedNo, help: "Keep the alive set across a leave, and ignore a replayed leave. (default: off)")
    var rejoinAfterLeave: Bool?

    @Option(help: "trace, debug, info, notice, warning, error or critical. (default: info)")
    var logLevel: String?

    @Option(help: "Most open connections; more are answered 503. (default: 1024)")
    var maxConnections: String?

    @Option(help: "Threads serving connections, each with its own share of them. (default: one per CPU)")
    var httpThreads: String?

    @Option(help: "Seconds to receive a request head before 408. (default: 10)")
    var headerTimeout: String?

    @Option(help: "Seconds an idle keep-alive connection stays open. (default: 60)")
    var idleTimeout: String?

    @Option(help: "Largest request body in bytes (413 above). (default: 4194304)")
    var maxBodyBytes: String?

    @Option(help: "Largest request line plus headers in bytes (431 above). (default: 16384)")
    var maxHeaderBytes: String?

    @Option(help: "File of bearer tokens, one a line, each optionally followed by the snapshot names it may use (name, prefix*, *); SIGHUP reloads it. (default: none)")
    var tokenFile: String?

    @Flag(inversion: .prefixedNo, help: "With a token, protect the read routes too. (default: off)")
    var protectReads: Bool?

    @Flag(inversion: .prefixedNo, help: "Log every request at info: method, path, status, seconds, client. (default: off, at debug)")
    var accessLog: Bool?

    @Option(help: .hidden)
    var simulateSyncDelayMs: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let sources = try SettingSources(environment: environment, configPath: config ?? environment["SNAPSHOTD_CONFIG"],
                                         known: ServeSettings.names)
        let settings = try ServeSettings.resolve(self, sources)
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "snapshotd")

        var service = ServiceConfiguration()
        service.queueWait = settings.queueWait
        service.autoCreate = settings.autoCreate
        let tokenFile = settings.tokenFile.map(TokenFile.init)
        if let tokenFile {
            let contents = try tokenFile.load()
            if let warning = contents.warning { logger.warning("\(warning)") }
            service.tokenGrants = contents.grants
            service.protectReads = settings.protectReads
        } else if !settings.listen.isLoopback {
            logger.warning("listening on a non-loopback address without a token: anyone who reaches it can change the snapshot", metadata: ["listen": "\(settings.listenText)"])
        }

        // One process owns a store: the snapshot's lock and the log's are held until it exits
        // (two snapshot files in one directory share its log, so the log is locked too).
        let snapshot = settings.snapshot
        let directory = snapshot.lastIndex(of: "/").map { String(snapshot[..<$0]) } ?? ""
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw Failure("cannot create the snapshot directory \(directory): \(error.localizedDescription)")
            }
        }
        let logDirectory = StoreReplayer.defaultLogDirectory(for: snapshot)
        let locks: [SnapshotLock]
        do {
            locks = [try SnapshotLock.acquire(snapshot: snapshot), try SnapshotLock.acquire(snapshot: logDirectory)]
        } catch {
            throw Failure("\(error)")
        }

        let metrics = ServiceMetrics()
        let api = SnapshotAPI(metrics: metrics, configuration: service, logger: logger)
        var hooks = api.hooks
        let count = hooks.responseSent
        let accessLevel: Logger.Level = settings.accessLog ? .info : .debug
        hooks.responseSent = { method, path, status, seconds, client in
            count?(method, path, status, seconds, client)
            logger.log(level: accessLevel, "\(method.isEmpty ? "-" : method) \(path.isEmpty ? "-" : path) \(status) \(String(format: "%.6f", seconds))s",
                       metadata: ["client": "\(client)"])
        }
        var http = HTTPServerConfiguration()
        http.host = settings.listen.host
        http.port = settings.listen.port
        http.maxConnections = try DescriptorLimit.connections(settings.maxConnections, logger: logger)
        http.headerTimeout = settings.headerTimeout
        http.idleTimeout = settings.idleTimeout
        http.maxBodyBytes = settings.maxBodyBytes
        http.maxHeaderBytes = settings.maxHeaderBytes
        http.connectionPools = settings.httpThreads
        SnapshotAPI.configure(&http)
        let server = HTTPServer(configuration: http, hooks: hooks, handler: api.router.handler)
        let bound: (host: String, port: UInt16)
        do {
            bound = try server.start()
        } catch {
            throw Failure("cannot listen on \(settings.listenText): \(error)")
        }

        var engineConfiguration = EngineConfiguration()
        engineConfiguration.durability = settings.durability
        engineConfiguration.format = settings.format
        engineConfiguration.queueCapacity = settings.queueCapacity
        engineConfiguration.maxSnapshots = settings.maxSnapshots
        engineConfiguration.minCompactSize = Int64(settings.minCompactSize)
        engineConfiguration.segmentSize = Int64(settings.segmentSize)
        engineConfiguration.logDirectory = logDirectory
        engineConfiguration.rejoinAfterLeave = settings.rejoinAfterLeave
        engineConfiguration.observer = metrics
        if settings.simulateSyncDelayMs > 0 {
            engineConfiguration.io = SlowDiskFileIO(delayMicroseconds: UInt32(settings.simulateSyncDelayMs) * 1000)
        }
        let engineSettings = engineConfiguration
        let url = ListenAddress.url(host: bound.host, port: bound.port)
        let tokenRequired = service.tokenGrants == nil ? "no" : service.protectReads ? "all routes" : "routes that change state"
        let tokens = service.tokenGrants?.grants.count ?? 0

        let lifecycle = Lifecycle(server: server, api: api, tokenFile: tokenFile, logger: logger)
        lifecycle.installSignalHandlers()
        // Replay can take a while on a large file: /healthz answers meanwhile and /readyz says
        // "starting". It runs on its own thread, since it blocks on the disk. "listening on" is
        // logged once the snapshot is open: then every route serves.
        Thread.detachNewThread {
            do {
                let engine = try SnapshotEngine(path: snapshot, configuration: engineSettings)
                let report = engine.replayReport
                for skip in report.skipped {
                    logger.warning("replay found damage", metadata: ["offset": "\(skip.offset)", "length": "\(skip.length)", "reason": "\(skip.reason)"])
                }
                if let copy = report.preservedCopy {
                    logger.warning("the damaged snapshot was kept before its repair; the snapshot was rewritten from the records recovered",
                                   metadata: ["copy": "\(copy)", "regions": "\(report.skipped.count)"])
                }
                if report.tornTailBytes > 0 {
                    logger.info("replay cut a torn last record (an interrupted append)", metadata: ["bytes": "\(report.tornTailBytes)"])
                }
                let log = engine.logReport
                for damage in log.damaged {
                    logger.warning("the log has damage", metadata: ["segment": "\(damage.segment)", "offset": "\(damage.offset)", "length": "\(damage.length)"])
                }
                for copy in log.preservedCopies {
                    logger.warning("a damaged log segment was kept as a copy; a checkpoint past it follows", metadata: ["copy": "\(copy)"])
                }
                for torn in log.tornTails {
                    logger.info("the log ends in a torn record (an interrupted append)", metadata: ["segment": "\(torn.segment)", "bytes": "\(torn.length)"])
                }
                api.attach(engine)
                let state = engine.status.state
                logger.info("snapshot open", metadata: [
                    "snapshot": "\(snapshot)", "format": "\(report.format.rawValue)", "durability": "\(settings.durability.rawValue)",
                    "rejoin_after_leave": "\(settings.rejoinAfterLeave)", "token_required": "\(tokenRequired)", "tokens": "\(tokens)",
                    "leaving": "\(state.leaving)", "records": "\(report.records)", "damaged_regions": "\(report.skipped.count)",
                    "alive": "\(state.aliveNodes.count)", "clock": "\(state.lastClock)",
                    "log": "\(engine.logDirectory)", "log_segments": "\(log.segmentCount)", "log_records_replayed": "\(log.replayed)",
                ])
                logger.info("listening on \(url)")
            } catch {
                api.failedToStart("\(error)")
                logger.critical("cannot open the snapshot: \(error)")
                lifecycle.fail()
            }
        }
        // The lock lives as long as the process (dispatchMain never returns).
        withExtendedLifetime(locks) { dispatchMain() }
    }
}
