import Glibc

/// The HTTP/1.1 client of `snapshotd forward`: one request a connection over a POSIX socket
/// (connect, the request with `Content-Length` and `Connection: close`, then the status line,
/// the headers and a `Content-Length` body, or the body to end of stream). Nothing more: no
/// keep-alive, no TLS, no redirects, no chunked request bodies. Every wait (connect, send,
/// receive) is bounded by the deadline, with poll(2) on a non-blocking socket.
///
/// Why not URLSession: FoundationNetworking loads libcurl and its dependencies at start, which
/// costs more than the rest of a run of the command (README, "snapshotd forward").
struct MinimalHTTPClient {
    /// The most of a response head read, and of a body kept.
    static let maxHeadBytes = 64 * 1024
    static let maxBodyBytes = 64 * 1024

    let target: ForwardTarget

    /// Why an exchange got no HTTP response. `retryable`: the server may answer a later attempt
    /// (refused, reset, unreachable, closed before answering, time out), as opposed to an answer
    /// that is not HTTP.
    struct TransportError: Error, CustomStringConvertible {
        var description: String
        var retryable: Bool
    }

    /// Sends `POST path` with `body` and returns the final response (1xx skipped).
    func post(path: String, contentType: String, headers: [(String, String)], body: [UInt8], deadline: Deadline) -> Result<HTTPReply, TransportError> {
        var head = "POST \(target.prefix)\(path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUser-Agent: snapshotd-forward\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let fd: Int32
        switch connect(deadline: deadline) {
        case .success(let connected): fd = connected
        case .failure(let error): return .failure(error)
        }
        defer { close(fd) }
        if let error = send(fd, Array(head.utf8) + body, deadline: deadline) { return .failure(error) }
        return receive(fd, deadline: deadline)
    }

    // MARK: - Connecting

    private func connect(deadline: Deadline) -> Result<Int32, TransportError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(target.host, String(target.port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            // EAI_AGAIN: a resolver that may answer later; anything else will not.
            return .failure(TransportError(description: "cannot resolve \(target.host): \(reason)", retryable: status == EAI_AGAIN))
        }
        defer { freeaddrinfo(list) }
        var lastError = TransportError(description: "no address for \(target.host)", retryable: false)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = TransportError(description: "socket: \(Self.describe(errno))", retryable: true)
                continue
            }
            var code: Int32 = 0
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                code = errno
                if code == EINPROGRESS || code == EINTR {
                    code = wait(fd, for: Int16(POLLOUT), deadline: deadline) ? Self.socketError(fd) : ETIMEDOUT
                }
            }
            if code == 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return .success(fd)
            }
            close(fd)
            lastError = TransportError(description: "connect to \(target.hostHeader): \(Self.describe(code))", retryable: true)
        }
        return .failure(lastError)
    }

    /// Waits until `fd` is ready for `events` (or has an error or hang-up); false when the
    /// deadline passed first.
    private func wait(_ fd: Int32, for events: Int16, deadline: Deadline) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let timeout = deadline.pollMilliseconds
            guard timeout > 0 else { return false }
            let ready = poll(&entry, 1, timeout)
            if ready > 0 { return true }
            if ready < 0, errno != EINTR { return true }  // let the next call report the error
        }
    }

    private static func socketError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    // MARK: - The exchange

    private func send(_ fd: Int32, _ bytes: [UInt8], deadline: Deadline) -> TransportError? {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress.map { $0 + sent }, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
                continue
            }
            let code = errno
            if count < 0, code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
                guard wait(fd, for: Int16(POLLOUT), deadline: deadline) else {
                    return TransportError(description: "sending to \(target.hostHeader): timed out", retryable: true)
                }
                continue
            }
            return TransportError(description: "sending to \(target.hostHeader): \(Self.describe(code))", retryable: true)
        }
        return nil
    }

    private func receive(_ fd: Int32, deadline: Deadline) -> Result<HTTPReply, TransportError> {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var ended = false
        /// Reads more into `buffer`; false at end of stream; an error on failure.
        func fill() -> Result<Bool, TransportError> {
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    buffer.append(contentsOf: chunk[0..<count])
                    return .success(true)
                }
                if count == 0 { return .success(false) }
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
                    guard wait(fd, for: Int16(POLLIN), deadline: deadline) else {
                        return .failure(TransportError(description: "waiting for \(target.hostHeader) to answer: timed out", retryable: true))
                    }
                    continue
                }
                return .failure(TransportError(description: "reading from \(target.hostHeader): \(Self.describe(code))", retryable: true))
            }
        }
        while true {
            // The head: up to the blank line.
            var headEnd: Int?
            while headEnd == nil {
                headEnd = Self.headEnd(buffer)
                if headEnd != nil { break }
                guard buffer.count <= Self.maxHeadBytes else {
                    return .failure(TransportError(description: "\(target.hostHeader) answered a response head over \(Self.maxHeadBytes) bytes", retryable: false))
                }
                switch fill() {
                case .failure(let error): return .failure(error)
                case .success(true): continue
                case .success(false):
                    let what = buffer.isEmpty ? "closed the connection without an answer" : "closed the connection in the middle of its answer"
                    return .failure(TransportError(description: "\(target.hostHeader) \(what)", retryable: true))
                }
            }
            guard let end = headEnd, let head = Self.parseHead(buffer[..<end]) else {
                let line = String(decoding: buffer.prefix { $0 != 0x0D && $0 != 0x0A }.prefix(100), as: UTF8.self)
                return .failure(TransportError(description: "\(target.hostHeader) answered something that is not HTTP/1.x: \(line.debugDescription)", retryable: false))
            }
            buffer.removeFirst(end)
            if (100...199).contains(head.status) { continue }  // interim: the final response follows
            // The body: Content-Length bytes, or to the end of the stream.
            let wanted = head.contentLength.map { min($0, Self.maxBodyBytes) } ?? Self.maxBodyBytes
            while buffer.count < wanted, !ended {
                switch fill() {
                case .failure(let error):
                    // A status is an answer: a body cut short only shortens the message.
                    if head.contentLength == nil { ended = true } else { return .failure(error) }
                case .success(let more): ended = !more
                }
            }
            if let length = head.contentLength, buffer.count < min(length, Self.maxBodyBytes) {
                return .failure(TransportError(description: "\(target.hostHeader) closed the connection before the end of its answer's body", retryable: true))
            }
            return .success(HTTPReply(status: head.status, retryAfter: head.retryAfter, body: Array(buffer.prefix(wanted))))
        }
    }

    /// The offset just past the `\r\n\r\n` (or `\n\n`) that ends a head.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count, bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == 0x0D, bytes[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    struct Head: Equatable {
        var status: Int
        var contentLength: Int?
        var retryAfter: Double?
    }

    /// The status line and the headers the client acts on; nil when it is not an HTTP/1.x head.
    static func parseHead(_ bytes: ArraySlice<UInt8>) -> Head? {
        let lines = bytes.split(separator: 0x0A).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        guard let statusLine = lines.first else { return nil }
        let parts = statusLine.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[1].count == 3,
              parts[1].allSatisfy({ (0x30...0x39).contains($0) }),
              let status = Int(String(decoding: parts[1], as: UTF8.self))
        else { return nil }
        var head = Head(status: status)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[line.index(after: colon)...], as: UTF8.self).trimmingASCIIBlanks()
            switch name {
            case "content-length":
                guard let length = Int(value), length >= 0 else { return nil }
                head.contentLength = length
            case "retry-after":
                if let seconds = UInt32(value) { head.retryAfter = Double(seconds) }
            default: break
            }
        }
        return head
    }

    private static func describe(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }
}

private extension String {
    func trimmingASCIIBlanks() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
