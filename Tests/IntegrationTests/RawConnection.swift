import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One response as read off the wire by `RawConnection`.
struct RawResponse: Sendable {
    var status: Int
    /// Header fields in order, names lower-cased, values trimmed.
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0 == wanted }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

struct RawConnectionError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking TCP connection to 127.0.0.1 that sends exactly the bytes it is given: for requests
/// no well-behaved client library would send. Reads parse HTTP/1.1 responses (Content-Length
/// framed, as snapshotd frames every response) and time out after `timeout` seconds.
final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var sawEOF = false
    /// ECONNRESET seen while reading.
    private(set) var sawReset = false

    init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawConnectionError(description: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw RawConnectionError(description: "connect to 127.0.0.1:\(port): errno \(code)")
        }
    }

    deinit {
        close(fd)
    }

    /// Sends every byte (false if the peer closed or reset first).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// No more bytes from us (the server sees end of file).
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads more bytes; false on EOF, reset, error or timeout.
    @discardableResult
    private func fill() -> Bool {
        guard !sawEOF else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return true
            }
            if count == 0 {
                sawEOF = true
            } else if errno == EINTR {
                continue
            } else if errno == ECONNRESET {
                sawEOF = true
                sawReset = true
            }
            return false
        }
    }

    /// The next final response (1xx are skipped and returned in `interim`), or nil on EOF or
    /// timeout before a complete one.
    func readResponse(interim: inout [Int]) -> RawResponse? {
        while true {
            if let response = parseResponse() {
                if (100..<200).contains(response.status) {
                    interim.append(response.status)
                    continue
                }
                return response
            }
            if !fill() { return nil }
        }
    }

    func readResponse() -> RawResponse? {
        var interim: [Int] = []
        return readResponse(interim: &interim)
    }

    /// Reads until the server closes. True on EOF or reset, false on timeout (or error).
    /// Bytes read meanwhile stay buffered (see `unreadBytes`).
    func waitForClose() -> Bool {
        while fill() {}
        return sawEOF
    }

    /// Bytes received and not consumed as responses.
    var unreadBytes: [UInt8] { buffer }

    private func parseResponse() -> RawResponse? {
        guard let headEnd = headEnd() else { return nil }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = (100..<200).contains(status) ? 0 : Int(headers.first { $0.0 == "content-length" }?.1 ?? "0") ?? 0
        let total = headEnd + 4 + length
        guard buffer.count >= total else { return nil }
        let body = Array(buffer[(headEnd + 4)..<total])
        buffer.removeFirst(total)
        return RawResponse(status: status, headers: headers, body: body)
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 0x0D && buffer[index + 1] == 0x0A && buffer[index + 2] == 0x0D && buffer[index + 3] == 0x0A {
            return index
        }
        return nil
    }
}

/// Resident set size of a process in bytes, from /proc/PID/status (VmRSS), or nil.
func residentBytes(pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.split(separator: " ").dropFirst().first { Int($0) != nil }
        return digits.flatMap { Int($0) }.map { $0 * 1024 }
    }
    return nil
}

/// Open descriptors of a process (entries of /proc/PID/fd), or nil.
func openDescriptors(pid: Int32) -> Int? {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
}

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit);
/// returns the soft limit in effect.
@discardableResult
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < rlim_t(wanted) {
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}
