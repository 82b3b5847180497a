#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own, not a Dispatch worker, for a loop that blocks (a connection pool's
/// `epoll_wait`): it runs `body` once and ends.
enum PollThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping () -> Void) throws(HTTPServerError) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw HTTPServerError(message: "pthread_create failed: \(String(cString: strerror(result)))")
        }
        pthread_detach(thread)
    }
}
