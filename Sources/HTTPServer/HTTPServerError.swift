/// Why `HTTPServer.start()` failed.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A sentence for humans, e.g. "cannot bind 127.0.0.1:8080: Address already in use".
    public var message: String
    /// The errno behind it, or 0.
    public var errno: Int32

    public init(message: String, errno: Int32 = 0) {
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}
