import Dispatch
import Prometheus
import SnapshotCore
import Synchronization

/// Every metric snapshotd exports, in one Prometheus registry (swift-prometheus). It observes
/// the engine (as its `EngineObserver`) and the HTTP server (through `HTTPServerHooks`), and
/// reads the gauges that are cheaper to sample than to track at scrape time.
public final class ServiceMetrics: EngineObserver {
    public let registry: PrometheusCollectorRegistry

    private let accepted: CounterPerCase<SnapshotEventKind>
    private let refused: CounterPerCase<SnapshotError.Reason>
    private let recordsAppended: Counter
    private let bytesAppended: Counter
    private let batches: Counter
    private let flushSeconds: ValueHistogram
    private let fsyncSeconds: ValueHistogram
    private let compactions: Counter
    private let compactionSeconds: ValueHistogram
    private let compactionBytes: Gauge
    private let writeErrors: Counter
    private let queueDepth: Gauge
    private let queueCapacity: Gauge
    private let parked: Gauge
    private let fileBytes: Gauge
    private let logBytes: Gauge
    private let logSinceCheckpoint: Gauge
    private let replayLogRecords: Gauge
    private let replayLogDamaged: Gauge
    private let aliveNodes: Gauge
    private let replayRecords: Gauge
    private let replaySkipped: Gauge
    private let replayTornBytes: Gauge
    private let replayPreserved: Gauge
    private let clock: Gauge
    private let eventClock: Gauge
    private let queryClock: Gauge
    private let leaving: Gauge
    private let snapshots: Gauge
    private let storeAlive: Gauge
    private let storeLeaving: Gauge
    private let ready: Gauge
    private let openConnections: Gauge
    private let requestSeconds: ValueHistogram
    /// The response counters made so far, by route, method and status: the registry builds a
    /// metric's name and label strings on every lookup (measured: 6 allocations a request).
    private let responseCounters = Mutex<[ResponseKey: Counter]>([:])

    private struct ResponseKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    /// `allCases` makes its array on every call.
    private static let eventKinds = SnapshotEventKind.allCases

    /// Seconds, from 50 µs (a page-cache write) to 10 s (a stalled disk).
    static let latencyBuckets: [Double] = [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: .init(namespace: "snapshotd", metricName: name, unitName: "total", helpText: help), labels: labels)
        }
        func gauge(_ name: String, _ unit: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: .init(namespace: "snapshotd", metricName: name, unitName: unit, helpText: help))
        }
        func histogram(_ name: String, _ help: String) -> ValueHistogram {
            registry.makeValueHistogram(
                descriptor: .init(namespace: "snapshotd", metricName: name, unitName: "seconds", helpText: help),
                buckets: Self.latencyBuckets)
        }
        accepted = CounterPerCase { kind in
            counter("events_accepted", "Events admitted to the intake queue, by type.", [("type", kind.name)])
        }
        refused = CounterPerCase { reason in
            counter("events_refused", "Events refused, by reason.", [("reason", reason.label)])
        }
        recordsAppended = counter("records_appended", "Snapshot records written to the file.")
        bytesAppended = counter("bytes_appended", "Bytes written to the snapshot file (appends).")
        batches = counter("write_batches", "Group-commit batches written with one write(2).")
        flushSeconds = histogram("flush_duration", "Duration of one batch write(2).")
        fsyncSeconds = histogram("fsync_duration", "Duration of one fdatasync of the write-ahead log.")
        compactions = counter("compactions", "Checkpoints completed (the snapshot file rewritten from the state; they replace compaction).")
        compactionSeconds = histogram("compaction_duration", "Duration of a checkpoint, start to the directory fsync after its rename.")
        compactionBytes = gauge("compaction_last", "bytes", "What a recovery reads right after the last checkpoint: the file and the log after it.")
        writeErrors = counter("write_errors", "Failed writes, syncs and compactions.")
        queueDepth = gauge("queue_depth", "events", "Events admitted and not yet taken by the writer.")
        queueCapacity = gauge("queue_capacity", "events", "Capacity of the intake queue.")
        parked = gauge("queue_parked", "submissions", "Submissions waiting for queue space.")
        fileBytes = gauge("snapshot_file", "bytes", "Size of the snapshot file (the last checkpoint).")
        logBytes = gauge("log", "bytes", "Bytes of the write-ahead log's segments in use.")
        logSinceCheckpoint = gauge("log_since_checkpoint", "bytes", "Log bytes after the last checkpoint: what a recovery replays.")
        replayLogRecords = gauge("replay_log", "records", "Log records replayed at start, after the checkpoint.")
        replayLogDamaged = gauge("replay_log_damaged", "regions", "Damaged regions found in the log at start (each segment kept as a copy).")
        aliveNodes = gauge("alive", "nodes", "Alive nodes in the snapshot default.")
        // Across every snapshot of the store: no label per snapshot (its name would make the
        // series unbounded); per-snapshot detail is in GET /v1/snapshots/{name}/stats.
        snapshots = gauge("snapshots", "", "Snapshots in the store, default included.")
        storeAlive = gauge("store_alive", "nodes", "Alive nodes across every snapshot of the store.")
        storeLeaving = gauge("store_leaving", "snapshots", "Snapshots whose agent has left.")
        replayRecords = gauge("replay", "records", "Valid records replayed at start.")
        replaySkipped = gauge("replay_skipped", "records", "Records (or damaged regions) skipped at start because they did not parse or verify.")
        replayTornBytes = gauge("replay_torn_tail", "bytes", "Bytes of an incomplete last record truncated at start.")
        replayPreserved = gauge("replay_damaged_copy", "files", "1 when the snapshot was damaged at start and kept as PATH.damaged-<time> before its repair.")
        clock = gauge("clock", "", "The member Lamport clock last recorded.")
        eventClock = gauge("event_clock", "", "The user-event Lamport clock last recorded.")
        queryClock = gauge("query_clock", "", "The query Lamport clock last recorded.")
        leaving = gauge("leaving", "", "1 while the agent of the snapshot default has left (events refused until it rejoins).")
        ready = gauge("ready", "", "1 when /readyz answers 200: replayed and able to write.")
        openConnections = gauge("http_open", "connections", "Open HTTP connections.")
        requestSeconds = registry.makeValueHistogram(
            descriptor: .init(namespace: "snapshotd", metricName: "http_request_duration", unitName: "seconds",
                              helpText: "Time from a complete request head to its response."),
            buckets: Self.latencyBuckets)
    }

    // MARK: - Engine

    public func accepted(_ events: [SnapshotEvent]) {
        guard let first = events.first else { return }
        if events.count == 1 {
            accepted[first.kind].increment()
            return
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.eventKinds.count) { counts in
            counts.initialize(repeating: 0)
            for event in events { counts[event.kind.rawValue] += 1 }
            for kind in Self.eventKinds where counts[kind.rawValue] > 0 {
                accepted[kind].increment(by: counts[kind.rawValue])
            }
        }
    }

    public func refused(count: Int, reason: SnapshotError) {
        refused[reason.reason].increment(by: Int64(count))
    }

    public func wrote(records: Int, bytes: Int, seconds: Double) {
        recordsAppended.increment(by: Int64(records))
        bytesAppended.increment(by: Int64(bytes))
        batches.increment()
        flushSeconds.record(seconds)
    }

    public func synced(seconds: Double) {
        fsyncSeconds.record(seconds)
    }

    public func compacted(_ result: CompactionResult) {
        compactions.increment()
        compactionSeconds.record(result.seconds)
        compactionBytes.set(Double(result.bytesAfter))
    }

    public func failed(_ error: SnapshotError) {
        writeErrors.increment()
    }

    // MARK: - HTTP

    public func connectionOpened() { openConnections.increment(by: 1) }
    public func connectionClosed() { openConnections.decrement(by: 1) }

    /// Counts one response. `route` is a known route's path or "other", so that unknown paths
    /// cannot grow the label set without bound.
    public func responded(method: String, route: String, status: Int, seconds: Double) {
        let key = ResponseKey(route: route, method: method, status: status)
        let counter = responseCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: .init(namespace: "snapshotd", metricName: "http_requests", unitName: "total",
                                  helpText: "HTTP responses, by route, method and status."),
                labels: [("route", route), ("method", method), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        requestSeconds.record(seconds)
    }

    // MARK: - Scrape

    /// `snapshotd_build_info{version, format}`, once the engine is open (the format is its file's).
    public func attached(_ engine: SnapshotEngine) {
        let info = registry.makeGauge(
            descriptor: .init(namespace: "snapshotd", metricName: "build_info", unitName: "", helpText: "Always 1: the version and the snapshot's format in its labels."),
            labels: [("version", BuildInfo.version), ("format", engine.replayReport.format.rawValue)])
        info.set(1.0)
    }

    /// Samples the gauges and renders the text exposition format 0.0.4.
    public func render(engine: SnapshotEngine?, ready isReady: Bool) -> [UInt8] {
        ready.set(isReady ? 1.0 : 0.0)
        if let engine {
            let status = engine.status
            queueDepth.set(Double(engine.queueDepth))
            queueCapacity.set(Double(engine.queueCapacity))
            parked.set(Double(engine.parkedSubmissions))
            fileBytes.set(Double(status.fileBytes))
            logBytes.set(Double(status.logBytes))
            logSinceCheckpoint.set(Double(status.logPosition - status.checkpointPosition))
            replayLogRecords.set(Double(engine.logReport.replayed))
            replayLogDamaged.set(Double(engine.logReport.damaged.count))
            aliveNodes.set(Double(status.state.aliveNodes.count))
            replayRecords.set(Double(engine.replayReport.records))
            replaySkipped.set(Double(engine.replayReport.skipped.count))
            replayTornBytes.set(Double(engine.replayReport.tornTailBytes))
            replayPreserved.set(engine.replayReport.preservedCopy == nil ? 0.0 : 1.0)
            clock.set(Double(status.state.lastClock))
            eventClock.set(Double(status.state.lastEventClock))
            queryClock.set(Double(status.state.lastQueryClock))
            leaving.set(status.state.leaving ? 1.0 : 0.0)
            let totals = engine.store.totals
            snapshots.set(Double(totals.snapshots))
            storeAlive.set(Double(totals.alive))
            storeLeaving.set(Double(totals.leaving))
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}

/// One counter for each case of an enum whose raw values are its ordinals (0, 1, ...), made by
/// iterating its cases: a case added later gets its counter, and a lookup cannot miss.
struct CounterPerCase<Case: CaseIterable & RawRepresentable<Int>> {
    private let counters: [Counter]

    init(_ make: (Case) -> Counter) {
        var counters: [Counter] = []
        for (ordinal, value) in Case.allCases.enumerated() {
            precondition(value.rawValue == ordinal, "\(Case.self): raw values must be the cases' ordinals")
            counters.append(make(value))
        }
        self.counters = counters
    }

    subscript(_ value: Case) -> Counter { counters[value.rawValue] }
}
