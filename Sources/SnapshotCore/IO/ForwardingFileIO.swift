/// A file layer that hands every call to `base` unless it implements the call itself: the
/// shape of a fault-injecting test double or of a slow-disk simulation, which override only
/// the calls they change.
public protocol ForwardingFileIO: FileIO {
    var base: any FileIO { get }
}

extension ForwardingFileIO {
    public func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 { try base.open(path, create: create, truncate: truncate) }
    public func openReadOnly(_ path: String) throws(FileIOError) -> Int32 { try base.openReadOnly(path) }
    public func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32 { try base.openSegment(path, create: create) }
    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int { try base.write(fd, bytes, at: offset, path: path) }
    public func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError) { try base.preallocate(fd, length: length, path: path) }
    public func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String] { try base.contentsOfDirectory(path) }
    public func createDirectory(_ path: String) throws(FileIOError) { try base.createDirectory(path) }
    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int { try base.write(fd, bytes, path: path) }
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int { try base.read(fd, into: buffer, path: path) }
    public func dataSync(_ fd: Int32, path: String) throws(FileIOError) { try base.dataSync(fd, path: path) }
    public func sync(_ fd: Int32, path: String) throws(FileIOError) { try base.sync(fd, path: path) }
    public func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) { try base.truncate(fd, to: length, path: path) }
    public func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError) { try base.seek(fd, to: offset, path: path) }
    public func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64 { try base.size(fd, path: path) }
    public func rename(_ from: String, _ to: String) throws(FileIOError) { try base.rename(from, to) }
    public func remove(_ path: String) throws(FileIOError) { try base.remove(path) }
    public func exists(_ path: String) -> Bool { base.exists(path) }
    public func close(_ fd: Int32) { base.close(fd) }
    public func syncDirectory(_ path: String) throws(FileIOError) { try base.syncDirectory(path) }
    // Forwarded too: the default maps the descriptor with mmap(2), which for a base whose
    // descriptors are not the kernel's (an in-memory file system) maps some other open file.
    public func map(_ fd: Int32, size: Int) -> UnsafeRawBufferPointer? { base.map(fd, size: size) }
    public func unmap(_ bytes: UnsafeRawBufferPointer) { base.unmap(bytes) }
    public func dataExtents(_ fd: Int32, size: Int) -> [Range<Int>] { base.dataExtents(fd, size: size) }
    public func startWriteback(_ fd: Int32, offset: Int64, length: Int64) { base.startWriteback(fd, offset: offset, length: length) }
}
