import Glibc
import Synchronization
import TestSupport
@testable import SnapshotCore

/// An in-memory file system that models the page cache, for power-loss tests (in the manner
/// of SQLite's crash-test VFS and of ALICE).
///
/// Inodes are kept apart from names, so that a rename moves a name and not the data:
/// - a file (inode) has its durable bytes, as of its last `sync`/`dataSync`, and the writes
///   and truncations made since, in order;
/// - a directory has its durable entries, as of its last `syncDirectory`, and the creates,
///   renames and unlinks made since, in order. A `sync` or `dataSync` of a file makes its data
///   durable, never its name: a new file's entry and a rename are durable only once their
///   directory is synced (ext4 without relying on auto_da_alloc or on a journal commit that
///   happens to carry the entry: the conservative reading of POSIX).
///
/// Every mutating call (write, sync, dataSync, truncate, rename, remove, open that creates
/// or truncates, syncDirectory) is numbered from 1. With a `CrashPlan`, call number `at` loses
/// power: it does not happen, it and every later call fail with EIO, and the disk as it is
/// then is frozen into disk images by the rules of `CrashModel`. `powerOff()` does the same after
/// the last call. `init(image:)` mounts such an image again, everything in it durable. A plan
/// may kill the process first (`killAt`): calls fail until `restart()`, nothing is lost.
///
/// Thread-safe: the engine's writer and compactor threads call it concurrently.
final class PageCacheFileSystem: FileIO {
    struct CrashPlan: Sendable, Equatable {
        /// The mutating call (from 1) at which power is lost (`Int.max`: after the last call).
        var at: Int
        /// Seeds the choice of what of the unsynced state survives.
        var seed: UInt64
        /// Before that, the process is killed (kill -9) at this call: it and every later call
        /// fail until `restart()`, and the page cache is kept.
        var killAt: Int? = nil
        /// How many disks to draw from the one page cache at the crash (each a different
        /// choice of what survives), all checked: cheaper than more runs.
        var images = 1
    }

    enum FileOperation: Sendable, Equatable {
        case write(offset: Int, bytes: [UInt8])
        case truncate(Int)
    }

    enum DirectoryOperation: Sendable, Equatable {
        case create(name: String, inode: Int)
        case rename(from: String, to: String)
        case unlink(String)
    }

    struct Inode: Sendable {
        var durable: [UInt8] = []
        var current: [UInt8] = []
        /// Since the last sync, in order: applied to `durable` they give `current`.
        var unsynced: [FileOperation] = []
    }

    struct Directory: Sendable {
        var durable: [String: Int] = [:]
        var current: [String: Int] = [:]
        /// Since the last syncDirectory, in order: applied to `durable` they give `current`.
        var unsynced: [DirectoryOperation] = []
    }

    private struct OpenFile {
        var inode: Int
        var offset: Int
        var writable: Bool
    }

    private struct State {
        var inodes: [Int: Inode] = [:]
        var directories: [String: Directory] = [:]
        var files: [Int32: OpenFile] = [:]
        /// Mappings handed out by `map`: address to byte count.
        var mappings: [UInt: Int] = [:]
        var nextInode = 1
        var nextDescriptor: Int32 = 100
        var mutatingCalls = 0
        var plan: CrashPlan?
        var killed = false
        var killedCall: String?
        /// What the lost call was, for failure messages.
        var crashedCall: String?
        var images: [DiskImage] = []
        var image: DiskImage? { images.first }
        /// Every mutating call, when recorded (`recordingCalls`).
        var calls: [String]?
    }

    private let state: Mutex<State>

    init(crash plan: CrashPlan? = nil, recordingCalls: Bool = false) {
        var initial = State()
        initial.plan = plan
        if recordingCalls { initial.calls = [] }
        state = Mutex(initial)
    }

    /// A disk after a power loss, mounted again: every file in it durable under its name.
    init(image: DiskImage, crash plan: CrashPlan? = nil) {
        var initial = State()
        initial.plan = plan
        for (path, bytes) in image.files.sorted(by: { $0.key < $1.key }) {
            let inode = initial.nextInode
            initial.nextInode += 1
            initial.inodes[inode] = Inode(durable: bytes, current: bytes)
            let (directory, name) = Self.split(path)
            initial.directories[directory, default: Directory()].durable[name] = inode
            initial.directories[directory, default: Directory()].current[name] = inode
        }
        state = Mutex(initial)
    }

    deinit {
        state.withLock { state in
            for (address, _) in state.mappings {
                UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
            }
        }
    }

    // MARK: - What the test reads

    /// Mutating calls made so far (the crash points a run of the same workload has).
    var mutatingCalls: Int { state.withLock { $0.mutatingCalls } }
    var hasCrashed: Bool { state.withLock { $0.image != nil } }
    /// The call the kill stopped, e.g. `fsync directory /data` (nil without a kill).
    var killedCall: String? { state.withLock { $0.killedCall } }
    /// Killed and not yet restarted.
    var isKilled: Bool { state.withLock { $0.killed } }
    /// Crashed, or killed and not yet restarted: calls fail.
    var isDown: Bool { state.withLock { $0.killed || $0.image != nil } }

    /// The killed process is gone (its descriptors with it) and a new one may start: the page
    /// cache is as the killed one left it. Call once the killed engine is closed.
    func restart() {
        state.withLock { state in
            state.killed = false
            state.files = [:]
        }
    }
    /// The call that was lost, e.g. `fdatasync /d/snapshot` (nil before a crash).
    var crashedCall: String? { state.withLock { $0.crashedCall } }

    /// The disks after the crash (`CrashPlan.images` of them, one without a plan); powers off
    /// now (after the last call) if it has not crashed.
    func powerOff(seed: UInt64) -> [DiskImage] {
        state.withLock { state in
            if state.images.isEmpty {
                state.crashedCall = "after the last call"
                Self.loseMemory(&state, seed: seed)
            }
            return state.images
        }
    }

    /// What a power loss now would leave, without one (for the model's own tests).
    func imageNow(seed: UInt64) -> DiskImage {
        state.withLock { state in
            var generator = SplitMix64(seed: seed)
            return CrashModel.image(inodes: state.inodes, directories: state.directories, using: &generator)
        }
    }

    /// Every mutating call so far, if recorded.
    var calls: [String] { state.withLock { $0.calls ?? [] } }

    private static func loseMemory(_ state: inout State, seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        state.images = (0..<max(1, state.plan?.images ?? 1)).map { _ in
            CrashModel.image(inodes: state.inodes, directories: state.directories, using: &generator)
        }
    }

    /// The bytes a path holds now (what a reader sees, durable or not).
    func contents(_ path: String) -> [UInt8]? {
        state.withLock { state in
            let (directory, name) = Self.split(path)
            guard let inode = state.directories[directory]?.current[name] else { return nil }
            return state.inodes[inode]?.current
        }
    }

    // MARK: - Crash bookkeeping

    /// Counts one mutating call; throws EIO when the power is (or just went) out.
    private static func mutating(_ state: inout State, _ call: @autoclosure () -> String, path: String) throws(FileIOError) {
        guard state.image == nil else { throw FileIOError("power lost", path, code: EIO) }
        guard !state.killed else { throw FileIOError("process killed", path, code: EIO) }
        state.mutatingCalls += 1
        state.calls?.append(call())
        if state.plan?.killAt == state.mutatingCalls {
            state.killed = true
            state.killedCall = "call \(state.mutatingCalls): \(call())"
            throw FileIOError("process killed", path, code: EIO)
        }
        if let plan = state.plan, state.mutatingCalls >= plan.at {
            state.crashedCall = "call \(state.mutatingCalls): \(call())"
            loseMemory(&state, seed: plan.seed)
            throw FileIOError("power lost", path, code: EIO)
        }
    }

    private static func reading(_ state: State, path: String) throws(FileIOError) {
        if state.image != nil { throw FileIOError("power lost", path, code: EIO) }
        if state.killed { throw FileIOError("process killed", path, code: EIO) }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    private static func inode(_ state: State, _ fd: Int32, path: String) throws(FileIOError) -> (OpenFile, Int) {
        guard let file = state.files[fd] else { throw FileIOError("bad descriptor", path, code: EBADF) }
        return (file, file.inode)
    }

    // MARK: - FileIO

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        try state.withLock { (state) throws(FileIOError) -> Int32 in
            if create || truncate {
                try Self.mutating(&state, "open\(create ? " O_CREAT" : "")\(truncate ? " O_TRUNC" : "") \(path)", path: path)
            } else {
                try Self.reading(state, path: path)
            }
            let (directory, name) = Self.split(path)
            var inode = state.directories[directory]?.current[name]
            if inode == nil {
                guard create else { throw FileIOError("open", path, code: ENOENT) }
                let new = state.nextInode
                state.nextInode += 1
                state.inodes[new] = Inode()
                state.directories[directory, default: Directory()].current[name] = new
                state.directories[directory, default: Directory()].unsynced.append(.create(name: name, inode: new))
                inode = new
            }
            guard let inode else { throw FileIOError("open", path, code: ENOENT) }
            if truncate, let count = state.inodes[inode]?.current.count, count > 0 {
                state.inodes[inode]?.current = []
                state.inodes[inode]?.unsynced.append(.truncate(0))
            }
            let fd = state.nextDescriptor
            state.nextDescriptor += 1
            state.files[fd] = OpenFile(inode: inode, offset: 0, writable: true)
            return fd
        }
    }

    func openReadOnly(_ path: String) throws(FileIOError) -> Int32 {
        try state.withLock { (state) throws(FileIOError) -> Int32 in
            try Self.reading(state, path: path)
            let (directory, name) = Self.split(path)
            guard let inode = state.directories[directory]?.current[name] else { throw FileIOError("open", path, code: ENOENT) }
            let fd = state.nextDescriptor
            state.nextDescriptor += 1
            state.files[fd] = OpenFile(inode: inode, offset: 0, writable: false)
            return fd
        }
    }

    /// As `open(create:truncate: false)`; descriptors differ only in how they write.
    func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32 {
        try open(path, create: create, truncate: false)
    }

    /// pwrite(2): all of `bytes` at `offset` (a hole before it reads as zeros).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
        try state.withLock { (state) throws(FileIOError) -> Int in
            try Self.mutating(&state, "pwrite \(path) \(bytes.count) bytes at \(offset)", path: path)
            let (file, inode) = try Self.inode(state, fd, path: path)
            guard file.writable, offset >= 0 else { throw FileIOError("pwrite", path, code: EBADF) }
            let operation = FileOperation.write(offset: Int(offset), bytes: [UInt8](bytes))
            guard var node = state.inodes[inode] else { return 0 }
            CrashModel.apply(operation, to: &node.current)
            node.unsynced.append(operation)
            state.inodes[inode] = node
            return bytes.count
        }
    }

    /// posix_fallocate: the file grows to `length` with zeros (a size change, durable at the next sync).
    func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "fallocate \(path) \(length)", path: path)
            let (file, inode) = try Self.inode(state, fd, path: path)
            guard file.writable else { throw FileIOError("fallocate", path, code: EBADF) }
            guard var node = state.inodes[inode], node.current.count < Int(length) else { return }
            CrashModel.apply(.truncate(Int(length)), to: &node.current)
            node.unsynced.append(.truncate(Int(length)))
            state.inodes[inode] = node
        }
    }

    func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String] {
        try state.withLock { (state) throws(FileIOError) -> [String] in
            try Self.reading(state, path: path)
            guard let directory = state.directories[path] else { throw FileIOError("opendir", path, code: ENOENT) }
            return directory.current.keys.sorted()
        }
    }

    /// mkdir: the directory is there at once and stays (the model does not undo a mkdir: the
    /// engine syncs the parent right after it, and nothing depends on the entry before that).
    func createDirectory(_ path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            guard state.directories[path] == nil else { return }
            try Self.mutating(&state, "mkdir \(path)", path: path)
            state.directories[path] = Directory()
        }
    }

    /// Appends (every writable descriptor is O_APPEND), all of `bytes`.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try state.withLock { (state) throws(FileIOError) -> Int in
            try Self.mutating(&state, "write \(path) \(bytes.count) bytes", path: path)
            let (file, inode) = try Self.inode(state, fd, path: path)
            guard file.writable else { throw FileIOError("write", path, code: EBADF) }
            let data = [UInt8](bytes)
            let offset = state.inodes[inode]?.current.count ?? 0
            state.inodes[inode]?.current.append(contentsOf: data)
            state.inodes[inode]?.unsynced.append(.write(offset: offset, bytes: data))
            state.files[fd]?.offset = offset + data.count
            return data.count
        }
    }

    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try state.withLock { (state) throws(FileIOError) -> Int in
            try Self.reading(state, path: path)
            let (file, inode) = try Self.inode(state, fd, path: path)
            let bytes = state.inodes[inode]?.current ?? []
            guard file.offset < bytes.count else { return 0 }
            let n = min(buffer.count, bytes.count - file.offset)
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[file.offset..<(file.offset + n)]))
            }
            state.files[fd]?.offset = file.offset + n
            return n
        }
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        try syncData(fd, path: path, call: "fdatasync")
    }

    func sync(_ fd: Int32, path: String) throws(FileIOError) {
        try syncData(fd, path: path, call: "fsync")
    }

    /// fsync and fdatasync alike make the file's bytes (and its size) durable, never its name.
    private func syncData(_ fd: Int32, path: String, call: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "\(call) \(path)", path: path)
            let (_, inode) = try Self.inode(state, fd, path: path)
            guard var node = state.inodes[inode] else { return }
            node.durable = node.current
            node.unsynced = []
            state.inodes[inode] = node
        }
    }

    func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "ftruncate \(path) \(length)", path: path)
            let (file, inode) = try Self.inode(state, fd, path: path)
            guard file.writable, length >= 0 else { throw FileIOError("ftruncate", path, code: EINVAL) }
            guard var node = state.inodes[inode] else { return }
            CrashModel.apply(.truncate(Int(length)), to: &node.current)
            node.unsynced.append(.truncate(Int(length)))
            state.inodes[inode] = node
        }
    }

    func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.reading(state, path: path)
            _ = try Self.inode(state, fd, path: path)
            state.files[fd]?.offset = Int(offset)
        }
    }

    func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64 {
        try state.withLock { (state) throws(FileIOError) -> Int64 in
            try Self.reading(state, path: path)
            let (_, inode) = try Self.inode(state, fd, path: path)
            return Int64(state.inodes[inode]?.current.count ?? 0)
        }
    }

    /// Within one directory (all the engine does); across directories it fails with EXDEV.
    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "rename \(from) \(to)", path: from)
            let (directory, source) = Self.split(from)
            let (target, destination) = Self.split(to)
            guard directory == target else { throw FileIOError("rename", from, code: EXDEV) }
            guard let inode = state.directories[directory]?.current[source] else { throw FileIOError("rename", from, code: ENOENT) }
            guard source != destination else { return }
            state.directories[directory]?.current[destination] = inode
            state.directories[directory]?.current[source] = nil
            state.directories[directory]?.unsynced.append(.rename(from: source, to: destination))
        }
    }

    /// unlink(2); a missing file is no error (as `POSIXFileIO.remove`).
    func remove(_ path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "unlink \(path)", path: path)
            let (directory, name) = Self.split(path)
            guard state.directories[directory]?.current[name] != nil else { return }
            state.directories[directory]?.current[name] = nil
            state.directories[directory]?.unsynced.append(.unlink(name))
        }
    }

    func exists(_ path: String) -> Bool {
        state.withLock { state in
            guard state.image == nil, !state.killed else { return false }
            if state.directories[path] != nil { return true }  // a directory (kept apart from names)
            let (directory, name) = Self.split(path)
            return state.directories[directory]?.current[name] != nil
        }
    }

    func close(_ fd: Int32) {
        _ = state.withLock { $0.files.removeValue(forKey: fd) }
    }

    func syncDirectory(_ path: String) throws(FileIOError) {
        try state.withLock { (state) throws(FileIOError) in
            try Self.mutating(&state, "fsync directory \(path)", path: path)
            var directory = state.directories[path] ?? Directory()
            directory.durable = directory.current
            directory.unsynced = []
            state.directories[path] = directory
        }
    }

    /// A copy of the file's bytes that this file system owns until `unmap`.
    func map(_ fd: Int32, size: Int) -> UnsafeRawBufferPointer? {
        state.withLock { state in
            guard state.image == nil, !state.killed, size > 0, let file = state.files[fd],
                  let bytes = state.inodes[file.inode]?.current, size <= bytes.count else { return nil }
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
            bytes.withUnsafeBytes { copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
            guard let base = copy.baseAddress else { return nil }
            state.mappings[UInt(bitPattern: base)] = size
            return UnsafeRawBufferPointer(copy)
        }
    }

    func unmap(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let owned = state.withLock { $0.mappings.removeValue(forKey: UInt(bitPattern: base)) != nil }
        if owned { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }
}
