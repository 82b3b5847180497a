import Dispatch
import Foundation
import HTTPServer
import Logging
import SnapshotService
import Synchronization

/// Signals and shutdown: SIGTERM or SIGINT stops the server gracefully (requests in flight
/// finish), then closes the engine (everything accepted is written and synced), then exits 0.
/// A second signal exits at once.
///
/// `@unchecked Sendable`: `sources` is written once, on the main thread, before any signal can
/// arrive, and only kept alive afterwards; everything else is immutable or atomic.
final class Lifecycle: @unchecked Sendable {
    let server: HTTPServer
    let api: SnapshotAPI
    let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private var sources: [any DispatchSourceSignal] = []

    init(server: HTTPServer, api: SnapshotAPI, logger: Logger) {
        self.server = server
        self.api = api
        self.logger = logger
    }

    func installSignalHandlers() {
        let queue = DispatchQueue(label: "snapshotd.signals")
        var installed: [any DispatchSourceSignal] = []
        for signo in [SIGTERM, SIGINT] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler { [self] in received(signo) }
            source.resume()
            installed.append(source)
        }
        sources = installed
    }

    private func received(_ signo: Int32) {
        if stopping.exchange(true, ordering: .relaxed) {
            logger.warning("second signal: exiting now")
            exit(1)
        }
        logger.info("signal \(signo): stopping")
        server.stop { [self] in
            logger.info("HTTP server stopped; closing the snapshot")
            guard let engine = api.engine else { exit(0) }
            engine.close {
                self.logger.info("snapshot closed", metadata: ["bytes": "\(engine.status.fileBytes)"])
                exit(0)
            }
        }
    }

    /// The engine could not open: stop serving and exit non-zero.
    func fail() {
        server.stop { exit(1) }
    }
}
