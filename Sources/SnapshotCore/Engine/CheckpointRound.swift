import Dispatch
import Foundation
import Synchronization

/// One round of checkpoints: the snapshots due, each as of log position `position`, written as
/// complete snapshot files in their own formats, from O(1) copies of their states (the alive set
/// is a persistent tree), on a thread of its own while the writer goes on appending to the log;
/// the catalog file first when it changed. For each: temporary file, fsync, rename; then each
/// directory fsynced once, however many files it holds; then the log's segments no snapshot
/// needs any more are removed. None of that is on the acknowledgement path: the log keeps every
/// record until a checkpoint past it is durable.
final class CheckpointRound: Sendable {
    typealias Waiter = @Sendable (Result<CompactionResult, SnapshotError>) -> Void

    struct Item: Sendable {
        var id: UInt32
        var path: String
        var temporaryPath: String
        var state: SnapshotState
        var format: SnapshotFormat
    }

    struct CatalogItem: Sendable {
        var path: String
        var bytes: [UInt8]
    }

    /// Every log record before this position is in the round's files.
    let position: UInt64
    let items: [Item]
    let catalog: CatalogItem?
    /// Sealed segments no snapshot needs once the round is durable: removed after it, when
    /// every file of it was written.
    let covered: [LogSegment]
    let startedAt: UInt64
    /// The size written for each snapshot, or why it failed; the catalog's outcome.
    private let outcome = Mutex<(sizes: [UInt32: Result<Int64, SnapshotError>], catalog: SnapshotError?, done: Bool)>(([:], nil, false))

    init(position: UInt64, items: [Item], catalog: CatalogItem?, covered: [LogSegment]) {
        self.position = position
        self.items = items
        self.catalog = catalog
        self.covered = covered
        self.startedAt = DispatchTime.now().uptimeNanoseconds
    }

    var isDone: Bool { outcome.withLock { $0.done } }
    var results: [UInt32: Result<Int64, SnapshotError>] { outcome.withLock { $0.sizes } }
    var catalogError: SnapshotError? { outcome.withLock { $0.catalog } }

    /// Runs the round on its own thread (blocking file I/O: never on Dispatch), or on the
    /// caller's (a close, which waits for it anyway); `done` runs when it has finished.
    func start(io: any FileIO, inBackground: Bool, done: @escaping @Sendable () -> Void) {
        let work: @Sendable () -> Void = { [self] in
            run(io: io)
            done()
        }
        if inBackground {
            BackgroundThread.start(name: "snapshot-checkpoint", priority: .idle, work)
        } else {
            work()
        }
    }

    private func run(io: any FileIO) {
        var sizes: [UInt32: Result<Int64, SnapshotError>] = [:]
        var catalogFailure: SnapshotError?
        // The catalog first: a snapshot's file is never on disk before the name it is found by.
        if let catalog {
            do throws(FileIOError) {
                try Self.replace(catalog.path, with: catalog.bytes, io: io)
            } catch {
                catalogFailure = .compactionFailed(error.description)
            }
        }
        var renamed: [String: [UInt32]] = [:]
        for item in items {
            do throws(FileIOError) {
                let (fd, size) = try SnapshotFileWriter.write(item.state, format: item.format, to: item.temporaryPath,
                                                              io: io, logPosition: position)
                io.close(fd)
                do throws(FileIOError) {
                    try io.rename(item.temporaryPath, item.path)
                } catch {
                    try? io.remove(item.temporaryPath)
                    throw error
                }
                sizes[item.id] = .success(size)
                renamed[SnapshotWriter.directory(of: item.path), default: []].append(item.id)
            } catch {
                sizes[item.id] = .failure(.compactionFailed(error.description))
            }
        }
        // Until its directory fsync has returned a rename may be undone by a power loss, and
        // the old checkpoint back: the segments stay until then.
        for (directory, ids) in renamed {
            do throws(FileIOError) {
                try io.syncDirectory(directory)
            } catch {
                for id in ids { sizes[id] = .failure(.compactionFailed(error.description)) }
            }
        }
        let whole = catalogFailure == nil && sizes.values.allSatisfy { if case .success = $0 { true } else { false } }
        if whole {
            // Durable: a segment that cannot be removed now only costs a longer recovery read, and
            // the next start lists it again (its records all covered).
            for segment in covered { try? io.remove(segment.path) }
        }
        outcome.withLock { $0 = (sizes, catalogFailure, true) }
    }

    /// `bytes` as the whole of `path`: `SnapshotFileWriter.replace`'s steps for bytes already made.
    static func replace(_ path: String, with bytes: [UInt8], io: any FileIO) throws(FileIOError) {
        try SnapshotFileWriter.replace(path, withBytes: bytes, io: io, temporaryPath: path + ".checkpoint")
    }
}
