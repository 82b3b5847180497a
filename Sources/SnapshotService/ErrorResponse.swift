import HTTPServer

extension HTTPResponse {
    /// The API's error response (openapi.yaml's `Error`): `{"error":"<message>"}`, the message
    /// JSON-escaped, `Content-Type: application/json`.
    static func error(status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(message.utf8.count + 12)
        body.append(contentsOf: #"{"error":"#.utf8)
        EventEncoder.appendString(message, to: &body)
        body.append(UInt8(ascii: "}"))
        return .json(status: status, body, headers: headers)
    }
}

extension HTTPErrorFormat {
    /// The API's error body for the errors the HTTP server answers itself (400, 404, 405, 408,
    /// 413, 431, 500, 503...), the same as the routes' own.
    static let json = HTTPErrorFormat { status, message, headers in
        HTTPResponse.error(status: status, message, headers: headers)
    }
}

extension SnapshotAPI {
    /// What the API needs of the HTTP server's configuration: its error bodies in the API's
    /// format (`{"error": ...}`), so that every error a client sees has the same shape.
    public static func configure(_ http: inout HTTPServerConfiguration) {
        http.errorFormat = .json
    }
}
