import Glibc
import SnapshotCore

/// The real file system with every data sync made slower: a disk slower than the clients, on
/// demand (`serve --simulate-sync-delay-ms`, hidden; for overload tests and demonstrations).
struct SlowDiskFileIO: ForwardingFileIO {
    let base: any FileIO = POSIXFileIO()
    let delayMicroseconds: UInt32

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        usleep(delayMicroseconds)
        try base.dataSync(fd, path: path)
    }

}
