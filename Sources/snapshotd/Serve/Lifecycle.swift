import Dispatch
import Foundation
import HTTPServer
import Logging
import SnapshotService
import Synchronization

/// Signals and shutdown: SIGTERM or SIGINT stops the server gracefully (requests in flight
/// finish), then closes the engine (everything accepted is written and synced), then exits 0.
/// A second signal exits at once. SIGHUP reloads the token file: new grants apply from the next
/// request; a file that cannot be used keeps the old ones (and is logged at error).
///
/// `@unchecked Sendable`: `sources` is written once, on the main thread, before any signal can
/// arrive, and only kept alive afterwards; everything else is immutable or atomic.
final class Lifecycle: @unchecked Sendable {
    let server: HTTPServer
    let api: SnapshotAPI
    let tokenFile: TokenFile?
    let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private var sources: [any DispatchSourceSignal] = []

    init(server: HTTPServer, api: SnapshotAPI, tokenFile: TokenFile?, logger: Logger) {
        self.server = server
        self.api = api
        self.tokenFile = tokenFile
        self.logger = logger
    }

    func installSignalHandlers() {
        let queue = DispatchQueue(label: "snapshotd.signals")
        var installed: [any DispatchSourceSignal] = []
        for signo in [SIGTERM, SIGINT, SIGHUP] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler { [self] in signo == SIGHUP ? reloadTokens() : received(signo) }
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

    /// SIGHUP: the token file read again and its grants put in force; on any failure the grants
    /// in force stay. Without a token file there is nothing to reload (and SIGHUP does not stop
    /// the process).
    private func reloadTokens() {
        guard let tokenFile else {
            logger.info("SIGHUP: no token file to reload")
            return
        }
        do {
            let contents = try tokenFile.load()
            if let warning = contents.warning { logger.warning("\(warning)") }
            api.replace(grants: contents.grants)
            logger.info("SIGHUP: token file reloaded", metadata: ["path": "\(tokenFile.path)", "tokens": "\(contents.grants.grants.count)"])
        } catch {
            logger.error("SIGHUP: token file not reloaded, the tokens in force stay: \(error)")
        }
    }

    /// The engine could not open: stop serving and exit non-zero.
    func fail() {
        server.stop { exit(1) }
    }
}
