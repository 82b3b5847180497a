import Foundation
import SnapshotService

/// The token file (`--token-file`): read and parsed into `TokenGrants` at start and on SIGHUP.
/// It is opened once and checked through that descriptor (no swap between the check and the
/// read): a regular file of at most a MiB, UTF-8, at least one token.
struct TokenFile {
    static let maxBytes = 1 << 20

    let path: String

    /// What a read found: the grants, and a warning when the file's mode lets others read it.
    struct Contents {
        var grants: TokenGrants
        var warning: String?
    }

    func load() throws -> Contents {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw Failure("cannot read the token file \(path): \(Self.describe(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure("cannot read the token file \(path): \(Self.describe(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Failure("the token file \(path) is not a regular file") }
        guard info.st_size <= Self.maxBytes else {
            throw Failure("the token file \(path) is \(info.st_size) bytes; a token file is at most \(Self.maxBytes)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure("cannot read the token file \(path): \(Self.describe(errno))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= Self.maxBytes else {
                throw Failure("the token file \(path) is over \(Self.maxBytes) bytes; a token file is at most that")
            }
        }
        if bytes.allSatisfy({ $0 == 0x20 || (0x09...0x0D).contains($0) }) { throw Failure("the token file \(path) is empty") }
        let grants: TokenGrants
        do {
            grants = try TokenGrants(parsing: bytes)
        } catch {
            throw Failure("the token file \(path): \(error)")
        }
        return Contents(grants: grants, warning: Self.modeWarning(info.st_mode & 0o777, path: path))
    }

    /// A warning when the group or others may read or write the file, nil when only its owner can.
    static func modeWarning(_ mode: mode_t, path: String) -> String? {
        func who(_ group: mode_t, _ others: mode_t) -> String? {
            switch (mode & group != 0, mode & others != 0) {
            case (true, true): "its group and others"
            case (true, false): "its group"
            case (false, true): "others"
            case (false, false): nil
            }
        }
        let access = [who(0o040, 0o004).map { "readable by \($0)" }, who(0o020, 0o002).map { "writable by \($0)" }].compactMap { $0 }
        guard !access.isEmpty else { return nil }
        return "the token file \(path) is \(access.joined(separator: ", ")) (mode \(String(mode, radix: 8))): chmod 600 it"
    }

    private static func describe(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }
}
