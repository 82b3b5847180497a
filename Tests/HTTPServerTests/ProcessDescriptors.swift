import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil {
        count += 1
    }
    return count
}

/// Inodes of the TCP sockets (IPv4 and IPv6) whose local port is `port`, system-wide.
func tcpSocketInodes(localPort port: UInt16) -> Set<String> {
    var inodes: Set<String> = []
    let hexPort = String(port, radix: 16, uppercase: true)
    let suffix = ":" + String(repeating: "0", count: max(0, 4 - hexPort.count)) + hexPort
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            if fields.count > 9, fields[1].hasSuffix(suffix) {
                inodes.insert(String(fields[9]))
            }
        }
    }
    return inodes
}

/// Inodes of the sockets this process has descriptors for.
func ownSocketInodes() -> Set<String> {
    var inodes: Set<String> = []
    guard let directory = opendir("/proc/self/fd") else { return inodes }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var target = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        guard length > 0 else { continue }
        let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("socket:["), link.hasSuffix("]") {
            inodes.insert(String(link.dropFirst(8).dropLast()))
        }
    }
    return inodes
}
