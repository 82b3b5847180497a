import Glibc

/// Writes a whole snapshot (a header and the records that rebuild a state) to a new file:
/// what compaction and `convert` produce.
public enum SnapshotFileWriter {
    /// A whole snapshot file of `state` in `format`, in memory (an export).
    public static func encode(_ state: SnapshotState, format: SnapshotFormat) -> [UInt8] {
        var buffer: [UInt8] = []
        format.encoder.header(logPosition: nil, into: &buffer)
        state.compactedRecords { format.encoder.encode($0, into: &buffer) }
        return buffer
    }

    /// Creates (or truncates) `path`, writes `state` in `format`, fsyncs, and returns the open
    /// descriptor and the size. On error the file is removed. With a `logPosition` the file is a
    /// checkpoint: its header says it holds everything in the log before that position.
    static func write(_ state: SnapshotState, format: SnapshotFormat, to path: String, io: any FileIO,
                      logPosition: UInt64? = nil) throws(FileIOError) -> (fd: Int32, size: Int64) {
        let fd = try io.open(path, create: true, truncate: true)
        do throws(FileIOError) {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            format.encoder.header(logPosition: logPosition, into: &buffer)
            var size: Int64 = 0
            var failure: FileIOError?
            state.compactedRecords { record in
                guard failure == nil else { return }
                format.encoder.encode(record, into: &buffer)
                if buffer.count >= 1 << 20 {
                    do throws(FileIOError) { try io.writeAll(fd, buffer, path: path) } catch { failure = error }
                    // Each MiB to the disk as it is written, so that a checkpoint's sync finds
                    // little left to write. Measured (100,000 nodes, checkpoints back to back
                    // under wrk -c16 durable POSTs): the log's fdatasyncs over 2.5 ms fell from
                    // 60-125 to 15-40 a 10 s run.
                    io.startWriteback(fd, offset: size, length: Int64(buffer.count))
                    size += Int64(buffer.count)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if let failure { throw failure }
            try io.writeAll(fd, buffer, path: path)
            size += Int64(buffer.count)
            try io.sync(fd, path: path)
            return (fd, size)
        } catch {
            io.close(fd)
            try? io.remove(path)
            throw error
        }
    }

    /// Writes `state` to `path` crash-safely: a temporary file beside it, synced, renamed over
    /// `path`, and the directory synced. Returns the size written. `logPosition` as in `write`;
    /// `temporaryPath` is the engine's checkpoint file (nil: a name of its own beside `path`).
    public static func replace(_ path: String, with state: SnapshotState, format: SnapshotFormat, io: any FileIO = POSIXFileIO(),
                               logPosition: UInt64? = nil, temporaryPath: String? = nil) throws(FileIOError) -> Int64 {
        // A name of its own, so that it can never be an existing file (such as the input).
        var temporary = temporaryPath ?? path + ".tmp-\(getpid())"
        while temporaryPath == nil && io.exists(temporary) { temporary += "x" }
        let (fd, size) = try write(state, format: format, to: temporary, io: io, logPosition: logPosition)
        io.close(fd)
        try install(temporary, as: path, io: io)
        return size
    }

    /// `bytes` as the whole of `path`, crash-safely as `replace(_:with:format:)`: written to
    /// `temporaryPath`, synced, renamed over `path`, the directory synced.
    static func replace(_ path: String, withBytes bytes: [UInt8], io: any FileIO, temporaryPath: String) throws(FileIOError) {
        let fd = try io.open(temporaryPath, create: true, truncate: true)
        do throws(FileIOError) {
            defer { io.close(fd) }
            try io.writeAll(fd, bytes, path: temporaryPath)
            try io.sync(fd, path: temporaryPath)
        } catch {
            try? io.remove(temporaryPath)
            throw error
        }
        try install(temporaryPath, as: path, io: io)
    }

    /// Renames a synced temporary file over `path` (removed when that fails), then syncs the directory.
    private static func install(_ temporary: String, as path: String, io: any FileIO) throws(FileIOError) {
        do throws(FileIOError) {
            try io.rename(temporary, path)
        } catch {
            try? io.remove(temporary)
            throw error
        }
        try io.syncDirectory(SnapshotWriter.directory(of: path))
    }
}
