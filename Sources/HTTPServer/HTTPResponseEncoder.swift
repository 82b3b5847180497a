/// Serializes responses into a connection's output buffer (RFC 9112 §4, §6).
struct HTTPResponseEncoder {
    private var date = HTTPDate()

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Appends the response. `close` asks for `Connection: close`; a handler's own
    /// `Connection: close` also closes. Returns whether the connection must close after it.
    /// `keepAliveHeader` adds `Connection: keep-alive` (for HTTP/1.0 clients) when not closing.
    /// A HEAD request, 204 and 304 responses get no body; a status outside 200...599 is sent as 500.
    mutating func encode(
        _ response: HTTPResponse,
        requestMethod: String,
        close: Bool,
        keepAliveHeader: Bool,
        into out: inout [UInt8]
    ) -> Bool {
        let status = Self.effectiveStatus(response.status)
        var closing = close
        var hasDate = false

        out.append(contentsOf: "HTTP/1.1 ".utf8)
        out.append(UInt8(truncatingIfNeeded: 0x30 + status / 100))
        out.append(UInt8(truncatingIfNeeded: 0x30 + status / 10 % 10))
        out.append(UInt8(truncatingIfNeeded: 0x30 + status % 10))
        out.append(0x20)
        out.append(contentsOf: Self.reasonPhrase(status).utf8)
        out.append(0x0D)
        out.append(0x0A)

        for (name, value) in response.headers {
            guard Self.isValidName(name), Self.isValidValue(value) else { continue }
            switch name.utf8.count {
            case 4 where name.asciiCaseInsensitiveEquals("date"):
                hasDate = true
            case 10 where name.asciiCaseInsensitiveEquals("connection"):
                let headers = HTTPHeaders([(name, value)])
                if headers.containsToken("close", in: "connection") { closing = true }
                continue
            case 14 where name.asciiCaseInsensitiveEquals("content-length"):
                continue
            case 17 where name.asciiCaseInsensitiveEquals("transfer-encoding"):
                continue
            default:
                break
            }
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ":"))
            out.append(0x20)
            out.append(contentsOf: value.utf8)
            out.append(0x0D)
            out.append(0x0A)
        }

        let bodyAllowed = status != 204 && status != 304
        if bodyAllowed {
            out.append(contentsOf: "Content-Length: ".utf8)
            Self.appendDecimal(response.body.count, to: &out)
            out.append(0x0D)
            out.append(0x0A)
        }
        if !hasDate {
            date.update()
            out.append(contentsOf: date.headerLine)
        }
        if closing {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if keepAliveHeader {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(0x0D)
        out.append(0x0A)
        if bodyAllowed && requestMethod != "HEAD" {
            out.append(contentsOf: response.body)
        }
        return closing
    }

    /// The status actually sent: a final status 200...599, else 500.
    static func effectiveStatus(_ status: Int) -> Int {
        (200...599).contains(status) ? status : 500
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: 0x30 + max(value, 0)))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var remaining = value
            var index = buffer.count
            while remaining > 0, index > 0 {
                index -= 1
                buffer[index] = UInt8(truncatingIfNeeded: 0x30 + remaining % 10)
                remaining /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && allBytes(of: name, are: HTTPCharacterClass.token)
    }

    /// No CR, LF or other control character: a handler cannot split the response.
    private static func isValidValue(_ value: String) -> Bool {
        allBytes(of: value, are: HTTPCharacterClass.fieldValue)
    }

    private static func allBytes(of text: String, are characterClass: UInt8) -> Bool {
        HTTPCharacterClass.table.withUnsafeBufferPointer { table in
            text.utf8.allSatisfy { table[Int($0)] & characterClass != 0 }
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 416: return "Range Not Satisfiable"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 425: return "Too Early"
        case 426: return "Upgrade Required"
        case 428: return "Precondition Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return ""
        }
    }
}
