import Dispatch

/// An HTTP/1.1 server on non-blocking POSIX sockets driven by Dispatch (each connection pool's
/// sockets in one epoll instance that the pool's own thread waits on: `ConnectionPool`).
///
/// Requests are parsed strictly (RFC 9112), served with keep-alive and pipelining, and
/// answered in order through `HTTPResponder`s, which handlers may keep and answer later
/// from any thread.
public final class HTTPServer: Sendable {
    private let listener: HTTPListener

    public init(configuration: HTTPServerConfiguration, hooks: HTTPServerHooks = .init(), handler: @escaping HTTPHandler) {
        listener = HTTPListener(configuration: configuration, hooks: hooks, handler: handler)
    }

    /// Binds and listens. Returns the bound numeric address and port (the real port when 0
    /// was asked). Throws `HTTPServerError` (address in use, unknown host, already started...).
    /// A server is started at most once.
    @discardableResult
    public func start() throws -> (host: String, port: UInt16) {
        let listener = self.listener
        let result = listener.queue.sync { () -> Result<(host: String, port: UInt16), any Error> in
            do {
                return .success(try listener.start())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Connections being served now (connections refused with 503 are not counted).
    public var openConnections: Int { listener.openConnections }

    /// Graceful stop: stop accepting, let requests in flight (including parked ones) finish
    /// and their responses flush, close idle connections, then call `completion` (on an
    /// internal queue). Once it is called, every socket is closed and every source cancelled.
    public func stop(completion: @escaping @Sendable () -> Void) {
        listener.stop(completion: completion)
    }

    /// Graceful stop; returns when it is complete.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            listener.stop { continuation.resume() }
        }
    }

    deinit {
        // A server dropped while running still stops gracefully in the background.
        listener.stop {}
    }
}
