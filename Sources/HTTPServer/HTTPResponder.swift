import Synchronization

/// Handles one request: receives it with a responder to answer through, now or later.
///
/// Handlers are called on the connection's serial queue, which a few connections share:
/// they must not block or run long there. Slow work goes elsewhere (another queue, a task)
/// and answers through the responder when done; the request waits "parked", holding no thread.
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void

/// The one-shot way to answer a request.
///
/// `respond` may be called from any thread, during the handler or any time after it returned:
/// the request is then "parked" without holding a thread. Only the first call counts.
/// If the last reference to a responder goes away without a response, the request is
/// answered 500 so that its connection does not hang.
///
/// A connection reuses an answered responder for its next request once nobody else holds it
/// (`reuse(slot:)`), so that a keep-alive request costs no responder allocation.
public final class HTTPResponder: Sendable {
    private enum Target: Sendable {
        case connection(HTTPConnection)
        case callback(@Sendable (HTTPResponse) -> Void)
    }

    private enum State: Sendable {
        /// The handler is running on the connection's queue.
        case inHandler
        /// Answered while the handler was still running.
        case stored(HTTPResponse)
        /// The handler returned without answering.
        case parked
        case done
    }

    private let target: Target
    /// The state, and the connection's slot of the request answered (0 for a callback).
    private let state: Mutex<(State, slot: UInt64)>
    /// How `respondError` words an error: the server's `HTTPServerConfiguration.errorFormat`.
    public let errorFormat: HTTPErrorFormat

    /// A responder that passes the response to `onResponse` (on the responding thread);
    /// for tests and adapters that call a handler without a server.
    public init(errorFormat: HTTPErrorFormat = .plainText, _ onResponse: @escaping @Sendable (HTTPResponse) -> Void) {
        target = .callback(onResponse)
        state = Mutex((.parked, slot: 0))
        self.errorFormat = errorFormat
    }

    init(connection: HTTPConnection, slot: UInt64) {
        target = .connection(connection)
        state = Mutex((.inHandler, slot: slot))
        errorFormat = connection.errorFormat
    }

    /// Makes an answered responder that nobody else holds (the connection checked) the one of
    /// the request in `slot`, as if new.
    func reuse(slot: UInt64) {
        state.withLock { $0 = (.inHandler, slot: slot) }
    }

    /// Answers the request with an error in the server's format (`errorFormat`).
    public func respondError(status: Int, _ message: String, headers: [(String, String)] = []) {
        respond(errorFormat(status: status, message, headers: headers))
    }

    /// Answers the request; later calls are ignored.
    public func respond(_ response: HTTPResponse) {
        let deliver = state.withLock { state -> UInt64? in
            switch state.0 {
            case .inHandler:
                state.0 = .stored(response)
                return nil
            case .parked:
                state.0 = .done
                return state.slot
            case .stored, .done:
                return nil
            }
        }
        guard let slot = deliver else { return }
        switch target {
        case .connection(let connection):
            connection.deliverLater(response, slot: slot, from: self)
        case .callback(let callback):
            callback(response)
        }
    }

    /// Called by the connection right after the handler returned: the response if it was
    /// given meanwhile; otherwise the request is parked and `respond` will deliver it later.
    func takeResponseAfterHandler() -> HTTPResponse? {
        state.withLock { state -> HTTPResponse? in
            switch state.0 {
            case .stored(let response):
                state.0 = .done
                return response
            case .inHandler:
                state.0 = .parked
                return nil
            case .parked, .done:
                return nil
            }
        }
    }

    deinit {
        guard case .connection(let connection) = target else { return }
        let abandoned = state.withLock { state -> UInt64? in
            if case .parked = state.0 {
                state.0 = .done
                return state.slot
            }
            return nil
        }
        if let slot = abandoned {
            connection.deliverLater(errorFormat(status: 500, "the handler did not respond"), slot: slot, from: nil)
        }
    }
}
