import ArgumentParser
import Dispatch
import Foundation
import SnapshotCore

/// `snapshotd import NAME FILE --data-dir DIR [--replace]`: a snapshot file (Go's v1 text or v2)
/// replayed with Go's rules becomes the state of the snapshot NAME, in one durable write, as
/// `POST /v1/snapshots/NAME/import` does. Takes the store's locks: refused while a server runs on it.
struct ImportSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Make a snapshot file the state of one snapshot of a store (not while it is served).")

    @Argument(help: "The snapshot's name (created when missing).") var name: String
    @Argument(help: "The snapshot file to read (v1 or v2).") var file: String
    @Option(help: "The store's data directory.") var dataDir: String
    @Flag(help: "Replace a snapshot that has records (refused otherwise).") var replace = false

    func validate() throws {
        if (try? SnapshotName(name)) == nil { throw ValidationError("\(name.debugDescription) is not a snapshot name") }
    }

    func run() throws {
        guard let snapshotName = try? SnapshotName(name) else { throw ValidationError("\(name.debugDescription) is not a snapshot name") }
        let layout = StoreLayout(dataDirectory: dataDir)
        let locks = try OfflineTool.lock(layout.defaultPath)
        defer { withExtendedLifetime(locks) {} }
        let store = try OfflineTool.attempt("open the store in \(dataDir)") { () throws(SnapshotFileError) in
            try SnapshotStore(layout: layout)
        }
        let options = store.options(of: snapshotName) ?? store.defaultOptions
        let (state, report) = try OfflineTool.attempt("read \(file)") { () throws(SnapshotFileError) in
            try SnapshotReplayer(rejoinAfterLeave: options.rejoinAfterLeave).replay(path: file)
        }
        let outcome = OfflineTool.Box<Result<Void, SnapshotError>>()
        let done = DispatchSemaphore(value: 0)
        store.importState(state, into: snapshotName, replacing: replace) { result in
            outcome.value = result
            done.signal()
        }
        done.wait()
        store.closeAndWait()
        if case .failure(let error)? = outcome.value { throw Failure("cannot import \(file) into \(name): \(error)") }
        let damage = report.isDamaged ? ", \(report.skipped.count) damaged region(s) skipped" : ""
        print("\(file) (\(report.format.rawValue), \(report.records) records\(damage)) -> \(name): \(state.aliveNodes.count) alive nodes")
    }
}
