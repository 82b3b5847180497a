/// A response produced by a handler (or by the server for its own errors).
///
/// The server adds `Content-Length`, `Date` and, when needed, `Connection`; any
/// `Content-Length`, `Transfer-Encoding` or `Connection` given in `headers` is ignored.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Extra header fields, sent in this order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with `Content-Type: application/json` and the given body.
    public static func json(status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        guard !headers.isEmpty else { return HTTPResponse(status: status, headers: jsonHeaders, body: body) }
        var all = headers
        all.append(jsonHeaders[0])
        return HTTPResponse(status: status, headers: all, body: body)
    }

    /// One array every JSON response without other headers shares (none allocated per response).
    private static let jsonHeaders = [("Content-Type", "application/json")]

    /// A JSON error response: `{"error":"<message>"}` with the message JSON-escaped.
    public static func error(status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(message.utf8.count + 14)
        body.append(contentsOf: #"{"error":""#.utf8)
        appendJSONEscaped(message, to: &body)
        body.append(contentsOf: #""}"#.utf8)
        return json(status: status, body, headers: headers)
    }

    /// Appends `string` escaped for the inside of a JSON string literal.
    static func appendJSONEscaped(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for byte in string.utf8 {
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\""): escaped = UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case 0x0A: escaped = UInt8(ascii: "n")
            case 0x0D: escaped = UInt8(ascii: "r")
            case 0x09: escaped = UInt8(ascii: "t")
            case 0x00..<0x20, 0x7F:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
                continue
            default:
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            out.append(escaped)
        }
    }
}
