/// How the server words the error responses it makes itself: a malformed or oversized request
/// (400, 413, 414, 431, ...), a timeout (408), a connection above the limit (503), a `Router`'s
/// 404 and 405, a handler that never answered (500). The server knows nothing of its callers'
/// error bodies: the default is plain text, and a service installs its own format in
/// `HTTPServerConfiguration.errorFormat`.
///
/// `response` is called on the server's queues, for errors only: it must be quick and
/// thread-safe. `headers` are extra header fields (`Allow` for a 405) to send before any the
/// format adds.
public struct HTTPErrorFormat: Sendable {
    public var response: @Sendable (_ status: Int, _ message: String, _ headers: [(String, String)]) -> HTTPResponse

    public init(_ response: @escaping @Sendable (_ status: Int, _ message: String, _ headers: [(String, String)]) -> HTTPResponse) {
        self.response = response
    }

    /// The error response for `status`.
    @inlinable
    public func callAsFunction(status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        response(status, message, headers)
    }

    /// The default: the message and a line feed, `Content-Type: text/plain; charset=utf-8`.
    public static let plainText = HTTPErrorFormat { status, message, headers in
        var body: [UInt8] = []
        body.reserveCapacity(message.utf8.count + 1)
        body.append(contentsOf: message.utf8)
        body.append(0x0A)
        guard !headers.isEmpty else { return HTTPResponse(status: status, headers: plainTextHeaders, body: body) }
        var all = headers
        all.append(plainTextHeaders[0])
        return HTTPResponse(status: status, headers: all, body: body)
    }

    /// One array the plain-text errors without other headers share.
    private static let plainTextHeaders = [("Content-Type", "text/plain; charset=utf-8")]
}
