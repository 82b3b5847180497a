/// Where `snapshotd forward` posts: `--url http://HOST[:PORT][/PREFIX]` (an IPv6 host in
/// brackets; the port 80 when absent; a prefix for a snapshotd behind a proxy under a path).
/// Plain HTTP only. Parsed by hand: no Foundation URL on the path of a command that runs once
/// per event.
struct ForwardTarget: Equatable {
    /// As getaddrinfo takes it (no brackets).
    var host: String
    var port: UInt16
    /// Empty, or `/PREFIX` without a trailing slash.
    var prefix: String

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        var path = rest.dropFirst(authority.count)
        guard !path.contains("?"), !path.contains("#"), !path.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }) else { return nil }
        while path.hasSuffix("/") { path = path.dropLast() }
        let hostPart: Substring
        let portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            portPart = after.isEmpty ? nil : after.dropFirst()
        } else {
            guard !authority.contains("@") else { return nil }
            if let colon = authority.lastIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                hostPart = authority
                portPart = nil
            }
            if hostPart.contains(":") { return nil }
        }
        guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != "@" }) else { return nil }
        if let portPart {
            guard let port = UInt16(portPart), port != 0 else { return nil }
            self.port = port
        } else {
            port = 80
        }
        host = String(hostPart)
        prefix = String(path)
    }

    /// The `Host` header's value.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    /// `http://HOST:PORT/PREFIX` + `path`, for messages.
    func url(_ path: String) -> String { "http://\(hostHeader)\(prefix)\(path)" }
}
