#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin helpers over the POSIX socket calls the server needs.
enum Socket {
    /// The text of an errno value.
    static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Creates a non-blocking listening TCP socket bound to `host`:`port` (SO_REUSEADDR set)
    /// and returns it with the bound numeric address and port.
    static func listen(host: String, port: UInt16, backlog: Int32) throws(HTTPServerError) -> (fd: Int32, host: String, port: UInt16) {
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") {
            name = String(name.dropFirst().dropLast())
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        // Something that looks like an address literal is not looked up as a name.
        if name.contains(":") || (!name.isEmpty && name.utf8.allSatisfy { $0 == UInt8(ascii: ".") || ($0 >= 0x30 && $0 <= 0x39) }) {
            hints.ai_flags |= AI_NUMERICHOST
        }
        var list: UnsafeMutablePointer<addrinfo>?
        let status = name.isEmpty
            ? getaddrinfo(nil, String(port), &hints, &list)
            : getaddrinfo(name, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM ? describe(errno) : String(cString: gai_strerror(status))
            throw HTTPServerError(message: "cannot resolve listen host '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }

        var lastError = HTTPServerError(message: "no usable address for '\(host)'")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let shown = numericHost(info.pointee.ai_addr, info.pointee.ai_addrlen) ?? host
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                let code = errno
                lastError = HTTPServerError(message: "cannot create a socket for \(shown): \(describe(code))", errno: code)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                let code = errno
                close(fd)
                lastError = HTTPServerError(message: "cannot bind \(bracketed(shown)):\(port): \(describe(code))", errno: code)
                continue
            }
            if Glibc.listen(fd, backlog) != 0 {
                let code = errno
                close(fd)
                lastError = HTTPServerError(message: "cannot listen on \(bracketed(shown)):\(port): \(describe(code))", errno: code)
                continue
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let named = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            if named != 0 {
                let code = errno
                close(fd)
                throw HTTPServerError(message: "cannot read the bound address: \(describe(code))", errno: code)
            }
            let bound = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { (numericHost($0, length) ?? shown, boundPort($0)) }
            }
            return (fd, bound.0, bound.1)
        }
        throw lastError
    }

    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    /// accept4(2) is a GNU extension that the Glibc module does not declare; it is looked up once.
    private static let accept4: Accept4? = {
        guard let symbol = dlsym(nil, "accept4") else { return nil }
        return unsafeBitCast(symbol, to: Accept4.self)
    }()

    /// Accepts a connection as a non-blocking, close-on-exec descriptor, with the peer's numeric
    /// address (`10.0.0.1:5000`, `[::1]:5000`; "" when unknown); fd -1 with errno set when none.
    static func accept(_ listener: Int32) -> (fd: Int32, peer: String) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address -> Int32 in
                if let accept4 {
                    return accept4(listener, address, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
                let fd = Glibc.accept(listener, address, &length)
                if fd >= 0 {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                }
                return fd
            }
        }
        guard fd >= 0 else { return (fd, "") }
        let peer = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address -> String in
                guard let host = numericHost(address, length) else { return "" }
                return "\(bracketed(host)):\(boundPort(address))"
            }
        }
        return (fd, peer)
    }

    /// Sets TCP_NODELAY: responses are written whole, so Nagle only adds latency.
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func bracketed(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    private static func numericHost(_ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> String? {
        guard let address else { return nil }
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let status = getnameinfo(address, length, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST)
        guard status == 0 else { return nil }
        return text.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { String(cString: $0) }
        }
    }

    private static func boundPort(_ address: UnsafePointer<sockaddr>) -> UInt16 {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
        default:
            return 0
        }
    }
}
