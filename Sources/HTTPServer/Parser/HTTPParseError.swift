/// Why a request could not be parsed: the status to answer with and a short message for the
/// JSON error body. The connection is closed after the error response.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }

    static func badRequest(_ message: String) -> HTTPParseError {
        HTTPParseError(status: 400, message: message)
    }
}
