import Dispatch
import Foundation
import HTTPServer
import Logging
import SnapshotCore
import Synchronization

/// The snapshotd HTTP API (openapi.yaml): routes from HTTP requests to the engine and back.
/// Requests that wait on the engine (a durable acknowledgement, queue space, a leave, a
/// compaction) are parked: the handler returns at once and the engine's completion answers.
public final class SnapshotAPI: Sendable {
    public static let routes: [(method: String, path: String)] = [
        ("POST", "/v1/events"), ("GET", "/v1/snapshot"), ("POST", "/v1/leave"), ("POST", "/v1/rejoin"), ("POST", "/v1/compact"),
        ("GET", "/v1/snapshots"), ("PUT", "/v1/snapshots/{name}"), ("GET", "/v1/snapshots/{name}"),
        ("DELETE", "/v1/snapshots/{name}"), ("POST", "/v1/snapshots/{name}/events"), ("POST", "/v1/snapshots/{name}/leave"),
        ("POST", "/v1/snapshots/{name}/rejoin"), ("POST", "/v1/snapshots/{name}/compact"),
        ("GET", "/v1/snapshots/{name}/stats"), ("GET", "/v1/snapshots/{name}/export"), ("POST", "/v1/snapshots/{name}/import"),
        ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz"),
    ]

    private let engineSlot = Mutex<SnapshotEngine?>(nil)
    private let startupError = Mutex<String?>(nil)
    private let grantsSlot: Mutex<TokenGrants?>
    public let metrics: ServiceMetrics
    public let configuration: ServiceConfiguration
    /// Where refused credentials (401, at info) and accept failures (rate-limited) are logged.
    public let logger: Logger
    private let acceptFailures = RateLimitedCounter(interval: 1.0)
    private let decoders = EventDecoderPool()

    public init(metrics: ServiceMetrics, configuration: ServiceConfiguration = .init(),
                logger: Logger = Logger(label: "snapshotd")) {
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        grantsSlot = Mutex(configuration.tokenGrants)
    }

    /// The tokens in force: those of the configuration until a `replace(grants:)`.
    public var tokenGrants: TokenGrants? { grantsSlot.withLock { $0 } }

    /// Puts new grants in force (the token file reloaded), from the next request on. Only when
    /// the API was configured with tokens: whether a route needs one is fixed at start.
    public func replace(grants: TokenGrants) {
        guard configuration.tokenGrants != nil else { return }
        grantsSlot.withLock { $0 = grants }
    }

    /// Hands the API its engine once replay is done; until then it answers 503 "starting".
    public func attach(_ engine: SnapshotEngine) {
        metrics.attached(engine)
        engineSlot.withLock { $0 = engine }
    }

    /// Records why the engine could not open (readiness then reports it).
    public func failedToStart(_ message: String) {
        startupError.withLock { $0 = message }
    }

    public var engine: SnapshotEngine? { engineSlot.withLock { $0 } }

    /// The router with every route of the API. The `/v1/snapshots/{name}` routes act on the
    /// snapshot the path names, the older `/v1` routes on the snapshot `default`: a token must
    /// cover that name.
    public var router: Router {
        var router = Router()
        typealias Handler = @Sendable (HTTPRequest, HTTPResponder, SnapshotName) -> Void
        func both(_ method: String, _ legacy: String?, _ named: String, write: Bool, _ handler: @escaping Handler) {
            if let legacy { router.add(method, legacy, snapshotRoute(write: write, fixed: .default, handler)) }
            router.add(method, named, snapshotRoute(write: write, fixed: nil, handler))
        }
        both("POST", "/v1/events", "/v1/snapshots/{name}/events", write: true) { [self] in postEvents($0, $1, $2) }
        both("GET", "/v1/snapshot", "/v1/snapshots/{name}", write: false) { [self] in getSnapshot($0, $1, $2) }
        both("POST", "/v1/leave", "/v1/snapshots/{name}/leave", write: true) { [self] in postLeave($0, $1, $2) }
        both("POST", "/v1/rejoin", "/v1/snapshots/{name}/rejoin", write: true) { [self] in postRejoin($0, $1, $2) }
        both("POST", "/v1/compact", "/v1/snapshots/{name}/compact", write: true) { [self] in postCompact($0, $1, $2) }
        both("PUT", nil, "/v1/snapshots/{name}", write: true) { [self] in putSnapshot($0, $1, $2) }
        both("DELETE", nil, "/v1/snapshots/{name}", write: true) { [self] in deleteSnapshot($0, $1, $2) }
        both("GET", nil, "/v1/snapshots/{name}/stats", write: false) { [self] in getStats($0, $1, $2) }
        both("GET", nil, "/v1/snapshots/{name}/export", write: false) { [self] in getExport($0, $1, $2) }
        both("POST", nil, "/v1/snapshots/{name}/import", write: true) { [self] in postImport($0, $1, $2) }
        router.add("GET", "/v1/snapshots", guarded(write: false, snapshot: nil) { [self] in listSnapshots($0, $1) })
        router.add("GET", "/metrics", guarded(write: false, snapshot: nil) { [self] in $1.respond(metricsResponse()) })
        router.add("GET", "/healthz") { _, responder in
            responder.respond(.json(status: 200, ResponseBodies.encode(ResponseBodies.Status(status: "ok"))))
        }
        router.add("GET", "/readyz") { [self] _, responder in responder.respond(readiness()) }
        return router
    }

    /// HTTP hooks that feed the metrics, and log accept failures (at most one line a second,
    /// with the number of failures it stands for).
    public var hooks: HTTPServerHooks {
        var hooks = HTTPServerHooks()
        let metrics = self.metrics
        let router = self.router
        // Labels from a fixed set, so that clients cannot grow the series without bound.
        let methods: Set = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        hooks.connectionOpened = { metrics.connectionOpened() }
        hooks.connectionClosed = { metrics.connectionClosed() }
        hooks.responseSent = { method, path, status, seconds, _ in
            metrics.responded(method: methods.contains(method) ? method : "other",
                              route: router.route(matching: path) ?? "other", status: status, seconds: seconds)
        }
        let logger = self.logger
        let acceptFailures = self.acceptFailures
        hooks.acceptFailed = { code in
            guard let suppressed = acceptFailures.record() else { return }
            let hint = code == EMFILE || code == ENFILE
                ? "; raise the open-file limit (ulimit -n) or lower --max-connections" : ""
            logger.error("accept failed: \(Self.describe(errno: code)): new connections wait in the listen backlog\(hint)",
                         metadata: ["suppressed": "\(suppressed)"])
        }
        return hooks
    }

    /// `EMFILE (Too many open files)`: the errno's name where it is one accept reports, and its text.
    static func describe(errno code: Int32) -> String {
        let names: [Int32: String] = [EMFILE: "EMFILE", ENFILE: "ENFILE", ENOBUFS: "ENOBUFS", ENOMEM: "ENOMEM", EPERM: "EPERM"]
        let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return names[code].map { "\($0) (\(text))" } ?? text
    }

    // MARK: - Routes

    private func postEvents(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        if let coding = Self.contentCoding(request.headers) {
            // RFC 9110 §15.5.16: 415 for a content coding the server does not accept, and
            // Accept-Encoding says which it does.
            responder.respond(.error(status: 415, "Content-Encoding \(coding.debugDescription) is not supported: send the body unencoded",
                                     headers: [("Accept-Encoding", "identity")]))
            return
        }
        guard let format = Self.eventFormat(contentType: request.headers["content-type"]) else {
            responder.respond(.error(status: 415, "Content-Type must be application/json, application/x-ndjson or application/ndjson"))
            return
        }
        let events: [SnapshotEvent]
        do {
            events = try decoders.decode(request.body, format: format)
        } catch {
            metrics.refused(count: 1, reason: .invalidEvent(index: error.eventIndex ?? 0, reason: error.reason))
            responder.respond(.error(status: 400, error.description))
            return
        }
        guard let engine = ready(responder) else { return }
        let deadline = DispatchTime.now() + configuration.queueWait
        engine.store.submit(events, to: name, creating: configuration.autoCreate, deadline: deadline) { [self] result in
            switch result {
            case .success(let ack):
                responder.respond(.json(status: ack.durable ? 200 : 202, ResponseBodies.acknowledgement(ack)))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    private func getSnapshot(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let shuffled = order(request, responder), let engine = ready(responder) else { return }
        guard let status = engine.store.status(of: name) else {
            responder.respond(errorResponse(.unknownSnapshot(name.rawValue)))
            return
        }
        responder.respond(.json(status: 200, Self.snapshotBody(status.state, shuffled: shuffled)))
    }

    /// `?order=sorted` (the default) or `?order=random`: whether the nodes are shuffled, or nil
    /// once a 400 is answered.
    private func order(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool? {
        switch request.query["order"] {
        case nil, "sorted": return false
        case "random": return true
        case let other?:
            responder.respond(.error(status: 400, "order must be sorted or random, not \(other.debugDescription)"))
            return nil
        }
    }

    /// The body of `GET /v1/snapshot`: what an agent rejoins with.
    static func snapshotBody(_ state: SnapshotState, shuffled: Bool) -> [UInt8] {
        let nodes = state.aliveNodeList(shuffled: shuffled).map { ResponseBodies.Node(name: $0.name, addr: $0.address) }
        return ResponseBodies.encode(ResponseBodies.Snapshot(
            alive_nodes: nodes, clock: state.lastClock, event_clock: state.lastEventClock,
            query_clock: state.lastQueryClock, leaving: state.leaving))
    }

    private func postLeave(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        engine.store.leave(name) { [self] result in
            switch result {
            case .success:
                logger.info("the agent left: events are refused until it rejoins", metadata: ["snapshot": "\(name)"])
                responder.respond(.json(status: 200, ResponseBodies.encode(ResponseBodies.Leave(leaving: true, durable: true))))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    /// The agent's new life: ends a leave (as Go's replay of it does) and answers the state to
    /// rejoin with; without a leave it only answers the state.
    private func postRejoin(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let shuffled = order(request, responder), let engine = ready(responder) else { return }
        let wasLeaving = engine.store.status(of: name)?.state.leaving ?? false
        engine.store.rejoin(name) { [self] result in
            switch result {
            case .success(let state):
                if wasLeaving {
                    logger.info("the agent rejoined: events are recorded again",
                                metadata: ["snapshot": "\(name)", "alive": "\(state.aliveNodes.count)"])
                }
                responder.respond(.json(status: 200, Self.snapshotBody(state, shuffled: shuffled)))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    private func postCompact(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        engine.store.compact(name) { [self] result in
            switch result {
            case .success(let r):
                let body = ResponseBodies.Compaction(bytes_before: r.bytesBefore, bytes_after: r.bytesAfter, duration_seconds: r.seconds)
                responder.respond(.json(status: 200, ResponseBodies.encode(body)))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    private func metricsResponse() -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                     body: metrics.render(engine: engine, ready: readiness().status == 200))
    }

    /// 200 once replay is done and the snapshot can be written; 503 while starting, stopping, or
    /// while the last write failed. About the service, never about the agent: an agent that
    /// left shows as `leaving` in `GET /v1/snapshot` and in the metrics.
    private func readiness() -> HTTPResponse {
        func notReady(_ status: String, _ error: String?) -> HTTPResponse {
            .json(status: 503, ResponseBodies.encode(ResponseBodies.Status(status: status, error: error)))
        }
        guard let engine else { return notReady("starting", startupError.withLock { $0 }) }
        let status = engine.status
        if status.closed { return notReady("stopping", nil) }
        if let error = status.lastError { return notReady("write-failed", error) }
        return .json(status: 200, ResponseBodies.encode(ResponseBodies.Status(status: "ready")))
    }

    // MARK: - Helpers

    func ready(_ responder: HTTPResponder) -> SnapshotEngine? {
        if let engine { return engine }
        responder.respond(.error(status: 503, "starting: the snapshot is being replayed", headers: retryAfter))
        return nil
    }

    private var retryAfter: [(String, String)] { [("Retry-After", String(configuration.retryAfter))] }

    func errorResponse(_ error: SnapshotError) -> HTTPResponse {
        switch error {
        case .invalidEvent: .error(status: 400, error.description)
        case .leaving, .conflict, .tooManySnapshots: .error(status: 409, error.description)
        case .unknownSnapshot: .error(status: 404, error.description)
        case .queueFull, .closed, .writeFailed, .compactionFailed: .error(status: 503, error.description, headers: retryAfter)
        }
    }

    /// Wraps a handler with the bearer-token check, when tokens are configured: an unknown token
    /// (or none) is answered 401, a known one whose grants do not cover `snapshot` 403 (nil:
    /// the route acts on no snapshot, any known token will do). The grants are read per request,
    /// so a reload applies to the next one.
    private func guarded(write: Bool, snapshot: SnapshotName? = .default, _ handler: @escaping HTTPHandler) -> HTTPHandler {
        guard configuration.tokenGrants != nil, write || configuration.protectReads else { return handler }
        return { [self] request, responder in
            if authorized(request, responder, snapshot: snapshot) { handler(request, responder) }
        }
    }

    /// A route on one snapshot: the one named in its path (`{name}`, percent-decoded and checked:
    /// 400 when it is not a valid name; nothing else ever reaches the store), or `fixed`; then
    /// the token check for that name (`guarded`).
    private func snapshotRoute(write: Bool, fixed: SnapshotName?,
                               _ handler: @escaping @Sendable (HTTPRequest, HTTPResponder, SnapshotName) -> Void) -> HTTPHandler {
        let checks = configuration.tokenGrants != nil && (write || configuration.protectReads)
        return { [self] request, responder in
            let name: SnapshotName
            if let fixed {
                name = fixed
            } else {
                do throws(SnapshotNameError) {
                    name = try SnapshotName(percentEncoded: request.pathParameters["name"] ?? "")
                } catch {
                    responder.respond(.error(status: 400, error.description))
                    return
                }
            }
            if !checks || authorized(request, responder, snapshot: name) { handler(request, responder, name) }
        }
    }

    /// Whether the request's token may use `snapshot`; answers 401 or 403 when not. A refusal is
    /// logged at info with the client's address (the token given is never logged; for a 403, the
    /// line of the token file that matched).
    private func authorized(_ request: HTTPRequest, _ responder: HTTPResponder, snapshot: SnapshotName?) -> Bool {
        let header = request.headers["authorization"]
        switch tokenGrants?.authorize(header, snapshot: snapshot) ?? .unknownToken {
        case .granted:
            return true
        case .unknownToken:
            logger.info("401: \(request.method) \(request.path) without a valid bearer token", metadata: [
                "client": "\(request.remoteAddress)", "authorization": header == nil ? "missing" : "wrong",
            ])
            responder.respond(.error(status: 401, "a valid bearer token is required",
                                     headers: [("WWW-Authenticate", "Bearer realm=\"snapshotd\"")]))
            return false
        case .notGranted(let line):
            let name = snapshot?.rawValue ?? ""
            logger.info("403: \(request.method) \(request.path): the token may not use the snapshot \(name)", metadata: [
                "client": "\(request.remoteAddress)", "token_file_line": "\(line)",
            ])
            responder.respond(.error(status: 403, "this token may not use the snapshot \"\(name)\""))
            return false
        }
    }

    /// The first content coding of the request other than `identity` (RFC 9110 §8.4), or nil
    /// when the body is unencoded. snapshotd decodes none, so such a body is refused.
    static func contentCoding(_ headers: HTTPHeaders) -> String? {
        for value in headers.values("content-encoding") {
            for element in value.split(separator: ",") {
                let coding = element.trimmingCharacters(in: .whitespaces)
                if !coding.isEmpty && coding.lowercased() != "identity" { return coding }
            }
        }
        return nil
    }

    /// The event format a Content-Type names: its media type (before any `;` parameters, blanks
    /// trimmed, case ignored) is `application/json`, or `application/x-ndjson` or
    /// `application/ndjson` (the name the NDJSON spec now gives). Compared byte by byte, without
    /// allocating: this runs once per ingest request.
    static func eventFormat(contentType header: String?) -> EventDecoder.Format? {
        guard var header else { return nil }
        return header.withUTF8 { bytes -> EventDecoder.Format? in
            var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            var start = 0
            while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
            while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
            let type = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if ASCII.equalsLowercased(type, "application/json") { return .single }
            if ASCII.equalsLowercased(type, "application/x-ndjson") || ASCII.equalsLowercased(type, "application/ndjson") {
                return .ndjson
            }
            return nil
        }
    }
}
