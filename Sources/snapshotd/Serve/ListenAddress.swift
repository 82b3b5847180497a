/// `HOST:PORT` or `[IPV6]:PORT`, as `--listen` takes it.
struct ListenAddress: Equatable {
    var host: String
    var port: UInt16

    init?(_ text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { return nil }  // IPv6 needs brackets
        }
        guard !hostPart.isEmpty, let port = UInt16(portPart) else { return nil }
        host = String(hostPart)
        self.port = port
    }

    var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// How a URL names it.
    static func url(host: String, port: UInt16) -> String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
