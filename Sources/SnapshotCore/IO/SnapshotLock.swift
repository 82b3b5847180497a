import Glibc

/// One process owns a snapshot: an exclusive `flock` on `PATH.lock`, held while the process
/// serves (or an offline tool rewrites) the snapshot. It is a kernel lock, so a killed
/// process never leaves a stale one behind: the kernel drops it with the process. The lock
/// file holds the owner's PID, so that a refusal can say who holds it.
///
/// `flock` locks belong to the open file description: a second `acquire` in the same process
/// is refused too.
public final class SnapshotLock: Sendable {
    /// The lock file.
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Why the lock could not be taken.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Another process holds it.
        case held(snapshot: String, lockFile: String, pid: Int32?)
        case io(FileIOError)

        public var description: String {
            switch self {
            case .held(let snapshot, let lockFile, let pid):
                "the snapshot \(snapshot) is in use: another process\(pid.map { " (PID \($0))" } ?? "") holds \(lockFile)"
            case .io(let error): "cannot open the snapshot: \(error)"
            }
        }
    }

    /// The lock file of the snapshot at `snapshot`.
    public static func lockPath(for snapshot: String) -> String { snapshot + ".lock" }

    /// Takes the lock of the snapshot at `snapshot`, or fails at once when it is held.
    public static func acquire(snapshot: String) throws(Failure) -> SnapshotLock {
        let path = lockPath(for: snapshot)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw .io(FileIOError("open", path, code: errno)) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holder = readPID(fd)
            close(fd)
            if code == EWOULDBLOCK { throw .held(snapshot: snapshot, lockFile: path, pid: holder) }
            throw .io(FileIOError("flock", path, code: code))
        }
        // Ours now: record who holds it (only for the message a refused process prints).
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return SnapshotLock(path: path, fd: fd)
    }

    /// The PID the holder wrote into the lock file, when it reads as one.
    private static func readPID(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 16)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: bytes[0..<n], as: UTF8.self).trimmingWhitespace
        return Int32(text).flatMap { $0 > 0 ? $0 : nil }
    }

    deinit {
        // Closing the descriptor drops the lock; the file stays (removing it would race with
        // a process that just opened it).
        close(fd)
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(unicodeScalars.filter { $0 != "\n" && $0 != " " && $0 != "\r" && $0 != "\t" })
    }
}
