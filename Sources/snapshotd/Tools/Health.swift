import ArgumentParser
import Foundation
import Glibc

/// `snapshotd health [--url http://127.0.0.1:8080/readyz]`: exit 0 when the URL answers 200,
/// 1 otherwise. The container's HEALTHCHECK, so that the image needs no curl. Without `--url` it
/// probes `/readyz` where `serve` listens: `SNAPSHOTD_LISTEN` (as `serve` reads it), a wildcard
/// address meaning loopback, or `serve`'s default 127.0.0.1:8080.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exit 0 when a URL answers 200 (for container health checks), 1 otherwise.")

    @Option(help: "http://HOST:PORT/PATH (default: /readyz at SNAPSHOTD_LISTEN, a wildcard address as loopback; else http://127.0.0.1:8080/readyz)")
    var url: String?
    @Option(help: "Seconds to wait for the answer.") var timeout = 3.0

    func validate() throws {
        guard timeout.isFinite, timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
    }

    /// The URL to probe when no `--url` is given: `/readyz` at `listen` (SNAPSHOTD_LISTEN).
    static func readyURL(listen: String?) throws -> String {
        guard let listen, !listen.isEmpty else { return "http://127.0.0.1:8080/readyz" }
        guard let address = ListenAddress(listen), address.port != 0 else {
            throw ValidationError("SNAPSHOTD_LISTEN=\(listen) is not a HOST:PORT to probe: give --url")
        }
        let wildcard = address.host == "0.0.0.0" || (address.host.contains(":") && address.host.allSatisfy { $0 == "0" || $0 == ":" })
        let host = wildcard ? (address.host.contains(":") ? "::1" : "127.0.0.1") : address.host
        return ListenAddress.url(host: host, port: address.port) + "/readyz"
    }

    func run() throws {
        let url = try self.url ?? Self.readyURL(listen: ProcessInfo.processInfo.environment["SNAPSHOTD_LISTEN"])
        guard let target = URL(string: url), target.scheme == "http", var host = target.host else {
            throw ValidationError("--url must be http://HOST:PORT/PATH")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }  // [IPV6]
        let port = target.port ?? 80
        let path = target.path.isEmpty ? "/" : target.path + (target.query.map { "?" + $0 } ?? "")
        let status = Self.get(host: host, port: port, path: path, timeout: timeout)
        guard status == 200 else {
            FileHandle.standardError.write(Data("snapshotd health: \(url): \(status.map { "status \($0)" } ?? "no answer")\n".utf8))
            throw ExitCode(1)
        }
        print("\(url): 200")
    }

    /// One blocking HTTP/1.0 GET; the status code, or nil when there is no valid answer.
    static func get(host: String, port: Int, path: String, timeout: Double) -> Int? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\nUser-Agent: snapshotd-health\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while response.count < 64, !response.contains(0x0A) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        // "HTTP/1.x NNN ..."
        let line = String(decoding: response.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else { return nil }
        return code
    }
}
