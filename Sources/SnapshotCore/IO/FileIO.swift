import Glibc

/// An error from the file layer, carrying the operation, the path and errno's text.
public struct FileIOError: Error, CustomStringConvertible, Sendable, Equatable {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(_ operation: String, _ path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(code)))"
    }
}

/// The seam through which the engine does all its file I/O, so that tests can inject
/// short writes, ENOSPC or EIO. Every call is a thin, blocking POSIX call: only the engine's
/// own writer and compactor threads make them, never a Dispatch worker.
public protocol FileIO: Sendable {
    /// Opens `path` for reading and appending (created with mode 0644 when `create`). Every
    /// write goes to the end of the file (O_APPEND), so a truncation never leaves a hole.
    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32
    func openReadOnly(_ path: String) throws(FileIOError) -> Int32
    /// Opens `path` for reading and for writes at chosen offsets (no O_APPEND): the log's
    /// segments, which are preallocated and then overwritten.
    func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32
    /// One pwrite(2) at `offset`; returns how many bytes it took (may be short).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int
    /// Allocates the file's blocks up to `length` (posix_fallocate), so that later writes in
    /// that range change neither its size nor its allocation. Throws where that is not possible.
    func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError)
    /// The names in a directory (not `.` and `..`).
    func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String]
    /// mkdir(2) with mode 0755; an existing directory is no error.
    func createDirectory(_ path: String) throws(FileIOError)
    /// One write(2) at the current offset; returns how many bytes it took (may be short).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int
    /// One read(2); 0 at end of file.
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int
    func dataSync(_ fd: Int32, path: String) throws(FileIOError)
    func sync(_ fd: Int32, path: String) throws(FileIOError)
    func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError)
    func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError)
    func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64
    func rename(_ from: String, _ to: String) throws(FileIOError)
    func remove(_ path: String) throws(FileIOError)
    func exists(_ path: String) -> Bool
    func close(_ fd: Int32)
    /// fsync of a directory, so that a create or a rename in it is durable.
    func syncDirectory(_ path: String) throws(FileIOError)
    /// Maps `size` bytes of the file read-only (replay reads whole files this way: measured
    /// as fast as read(2) in 1 MiB chunks or faster: within 5% on v2, faster on v1). Nil when
    /// mapping is not possible.
    func map(_ fd: Int32, size: Int) -> UnsafeRawBufferPointer?
    func unmap(_ bytes: UnsafeRawBufferPointer)
    /// The regions of the first `size` bytes that may hold anything but zeros, in order; the
    /// rest are holes or preallocated, never-written extents, which read as zeros (so recovery
    /// need not read a prepared segment's 64 MiB to know it is empty). The whole file when
    /// the file system cannot tell.
    func dataExtents(_ fd: Int32, size: Int) -> [Range<Int>]
    /// Asks the kernel to start writing `length` bytes at `offset` back to the disk, without
    /// waiting and without making them durable (only a sync does): a large file written in
    /// pieces then goes to the disk in pieces too, not all at once when it is synced. Nothing,
    /// where the file layer has no such request.
    func startWriteback(_ fd: Int32, offset: Int64, length: Int64)
}

extension FileIO {
    public func map(_ fd: Int32, size: Int) -> UnsafeRawBufferPointer? {
        guard size > 0, let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { return nil }
        _ = madvise(base, size, MADV_SEQUENTIAL)
        return UnsafeRawBufferPointer(start: base, count: size)
    }

    public func unmap(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress { _ = munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public func startWriteback(_ fd: Int32, offset: Int64, length: Int64) {}

    /// Everything may be data: the answer of a file layer that does not know better.
    public func dataExtents(_ fd: Int32, size: Int) -> [Range<Int>] {
        size > 0 ? [0..<size] : []
    }
}

extension FileIO {
    /// Writes all of `bytes`, looping over short writes.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) {
        var done = 0
        while done < bytes.count {
            let n = try write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), path: path)
            if n <= 0 { throw FileIOError("write", path, code: EIO) }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`, looping over short writes.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) {
        var done = 0
        while done < bytes.count {
            let n = try write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), at: offset + Int64(done), path: path)
            if n <= 0 { throw FileIOError("pwrite", path, code: EIO) }
            done += n
        }
    }

    public func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64, path: String) throws(FileIOError) {
        var failure: FileIOError?
        bytes.withUnsafeBytes { raw in
            do throws(FileIOError) { try writeAll(fd, raw, at: offset, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileIOError) {
        var failure: FileIOError?
        bytes.withUnsafeBytes { raw in
            do throws(FileIOError) { try writeAll(fd, raw, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// The real file system.
public struct POSIXFileIO: FileIO {
    public init() {}

    public func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        var flags = O_RDWR | O_APPEND | O_CLOEXEC
        if create { flags |= O_CREAT }
        if truncate { flags |= O_TRUNC }
        let fd = Glibc.open(path, flags, 0o644)
        if fd < 0 { throw FileIOError("open", path, code: errno) }
        return fd
    }

    public func openReadOnly(_ path: String) throws(FileIOError) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileIOError("open", path, code: errno) }
        return fd
    }

    public func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32 {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        if fd < 0 { throw FileIOError("open", path, code: errno) }
        return fd
    }

    /// lseek(2)'s SEEK_DATA and SEEK_HOLE. ext4 and xfs count an unwritten (fallocated)
    /// extent as a hole unless the page cache holds pages of it, and those read as zeros; a
    /// file system without them reports the whole file as data, and any error gives the whole
    /// file too.
    public func dataExtents(_ fd: Int32, size: Int) -> [Range<Int>] {
        var extents: [Range<Int>] = []
        var offset = 0
        while offset < size {
            let data = lseek(fd, off_t(offset), 3)  // SEEK_DATA (<unistd.h>; the Glibc module leaves it out)
            if data < 0 {
                if errno == ENXIO { break }  // no data at or after offset
                return size > 0 ? [0..<size] : []
            }
            guard Int(data) < size else { break }
            let hole = lseek(fd, data, 4)  // SEEK_HOLE
            guard hole > data else { return [0..<size] }
            extents.append(Int(data)..<min(Int(hole), size))
            offset = Int(hole)
        }
        return extents
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
        while true {
            let n = pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileIOError("pwrite", path, code: errno)
        }
    }

    public func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError) {
        // posix_fallocate returns the error rather than setting errno (where the file system
        // lacks fallocate, glibc writes zeros instead: slower, but on the preparer's thread).
        let code = posix_fallocate(fd, 0, off_t(length))
        if code != 0 { throw FileIOError("fallocate", path, code: code) }
    }

    public func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String] {
        guard let dir = opendir(path) else { throw FileIOError("opendir", path, code: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func createDirectory(_ path: String) throws(FileIOError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FileIOError("mkdir", path, code: errno) }
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
        while true {
            let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileIOError("write", path, code: errno)
        }
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileIOError("read", path, code: errno)
        }
    }

    public func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        if fdatasync(fd) != 0 { throw FileIOError("fdatasync", path, code: errno) }
    }

    public func sync(_ fd: Int32, path: String) throws(FileIOError) {
        if fsync(fd) != 0 { throw FileIOError("fsync", path, code: errno) }
    }

    /// posix_fadvise(POSIX_FADV_DONTNEED): on Linux it starts the writeback of the range's
    /// dirty pages (asynchronously, as sync_file_range(SYNC_FILE_RANGE_WRITE), which Swift's
    /// Glibc module does not export) and drops the pages already clean. A failure only
    /// leaves the pages to the sync.
    public func startWriteback(_ fd: Int32, offset: Int64, length: Int64) {
        _ = posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_DONTNEED)
    }

    public func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) {
        if ftruncate(fd, off_t(length)) != 0 { throw FileIOError("ftruncate", path, code: errno) }
    }

    public func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError) {
        if lseek(fd, off_t(offset), SEEK_SET) < 0 { throw FileIOError("lseek", path, code: errno) }
    }

    public func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw FileIOError("fstat", path, code: errno) }
        return Int64(st.st_size)
    }

    public func rename(_ from: String, _ to: String) throws(FileIOError) {
        if Glibc.rename(from, to) != 0 { throw FileIOError("rename", from, code: errno) }
    }

    public func remove(_ path: String) throws(FileIOError) {
        if unlink(path) != 0 && errno != ENOENT { throw FileIOError("unlink", path, code: errno) }
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    public func syncDirectory(_ path: String) throws(FileIOError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileIOError("open directory", path, code: errno) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw FileIOError("fsync directory", path, code: errno) }
    }
}
