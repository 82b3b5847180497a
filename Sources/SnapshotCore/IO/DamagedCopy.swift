import Glibc

/// Keeps a damaged snapshot file as it was before anything repairs it: a byte-for-byte copy
/// beside it, `PATH.damaged-<UTC time>`, synced with its directory before the repair starts.
/// Replay recovers the good records; the copy keeps what replay could not explain.
enum DamagedCopy {
    /// Copies `path` to a new `PATH.damaged-YYYYMMDDTHHMMSSZ` (with `-2`, `-3`… when that name
    /// is taken) and makes the copy durable. Returns the copy's path. `base` replaces `PATH` in
    /// the copy's name (a named snapshot's copies start with a dot: `StoreLayout`).
    static func preserve(_ path: String, as base: String? = nil, io: any FileIO, now: time_t = time(nil)) throws(FileIOError) -> String {
        let base = base ?? path
        var copyPath = base + ".damaged-" + timestamp(now)
        var attempt = 1
        while io.exists(copyPath) {
            attempt += 1
            copyPath = base + ".damaged-" + timestamp(now) + "-\(attempt)"
        }
        let source = try io.openReadOnly(path)
        defer { io.close(source) }
        let copy = try io.open(copyPath, create: true, truncate: true)
        do throws(FileIOError) {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try io.read(source, into: buffer, path: path)
                if n == 0 { break }
                try io.writeAll(copy, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: copyPath)
            }
            try io.sync(copy, path: copyPath)
            io.close(copy)
        } catch {
            io.close(copy)
            throw error
        }
        try io.syncDirectory(SnapshotWriter.directory(of: path))
        return copyPath
    }

    /// `20261201T203015Z`.
    static func timestamp(_ time: time_t) -> String {
        var seconds = time
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}
