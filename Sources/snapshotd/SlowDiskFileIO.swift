import Glibc
import SnapshotCore

/// The real file system with every data sync made slower: a disk slower than the clients, on
/// demand (`serve --simulate-sync-delay-ms`, hidden; for overload tests and demonstrations).
struct SlowDiskFileIO: FileIO {
    let base = POSIXFileIO()
    let delayMicroseconds: UInt32

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        usleep(delayMicroseconds)
        try base.dataSync(fd, path: path)
    }

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 { try base.open(path, create: create, truncate: truncate) }
    func openReadOnly(_ path: String) throws(FileIOError) -> Int32 { try base.openReadOnly(path) }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int { try base.write(fd, bytes, path: path) }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int { try base.read(fd, into: buffer, path: path) }
    func sync(_ fd: Int32, path: String) throws(FileIOError) { try base.sync(fd, path: path) }
    func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) { try base.truncate(fd, to: length, path: path) }
    func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError) { try base.seek(fd, to: offset, path: path) }
    func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64 { try base.size(fd, path: path) }
    func rename(_ from: String, _ to: String) throws(FileIOError) { try base.rename(from, to) }
    func remove(_ path: String) throws(FileIOError) { try base.remove(path) }
    func exists(_ path: String) -> Bool { base.exists(path) }
    func close(_ fd: Int32) { base.close(fd) }
    func syncDirectory(_ path: String) throws(FileIOError) { try base.syncDirectory(path) }
}
