import ArgumentParser
import Glibc
import SnapshotCore
import SnapshotService

/// `snapshotd forward --url URL [--snapshot NAME] [--token-file F] [--member-port 7946]
/// [--timeout S]`: the event handler of a stock `serf agent` (`-event-handler "snapshotd forward
/// --url …"`). The agent runs it once per event; it reads the event from the environment and
/// stdin the agent gives (`SerfHandlerInvocation`) and records it with one
/// `POST /v1/snapshots/NAME/events`. A 503 or a failed connection (refused, reset, timed out) is
/// retried with backoff (`RetryBackoff`, honouring `Retry-After`) until `--timeout`; any other
/// answer but a 2xx fails at once. It exits 0 only on a 2xx, printing nothing (for a query the
/// agent would send any output as the query's response); else 1 with one line on stderr.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Record one event of a serf agent in snapshotd (run by serf agent -event-handler).",
        discussion: """
            serf agent -event-handler "snapshotd forward --url http://127.0.0.1:8080" runs it once per event. \
            It reads SERF_EVENT, SERF_SELF_NAME, SERF_USER_EVENT/SERF_USER_LTIME, SERF_QUERY_NAME/SERF_QUERY_LTIME \
            and, for member events, the members on stdin; posts the event to /v1/snapshots/NAME/events; exits 0 \
            (printing nothing) once snapshotd answered 2xx, else 1 with a message on stderr.
            """)

    @Option(help: "snapshotd's URL: http://HOST[:PORT][/PREFIX].") var url: String
    @Option(help: "The snapshot to record into (default: SERF_SELF_NAME, the agent's node name).") var snapshot: String?
    @Option(help: "A token file, as serve's --token-file: its first token is sent as the bearer token.") var tokenFile: String?
    @Option(help: "The port recorded for every member: the handler is not told members' ports.") var memberPort = 7946
    @Option(help: "Seconds to keep retrying (503, refused or failed connections) before giving up.") var timeout = 10.0

    func validate() throws {
        guard ForwardTarget(url) != nil else { throw ValidationError("--url must be http://HOST[:PORT][/PREFIX] (plain HTTP), not \(url.debugDescription)") }
        guard (1...65535).contains(memberPort) else { throw ValidationError("--member-port must be 1 to 65535") }
        guard timeout.isFinite, timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be more than 0 and at most 3600 seconds") }
        if let snapshot, (try? SnapshotName(snapshot)) == nil {
            throw ValidationError("--snapshot \(snapshot.debugDescription) is not a snapshot name (1 to 128 of A-Z a-z 0-9 . _ -, the first a letter or digit)")
        }
    }

    func run() throws {
        let deadline = Deadline(secondsFromNow: timeout)
        guard let target = ForwardTarget(url) else { throw ValidationError("--url must be http://HOST[:PORT][/PREFIX]") }
        let environment = Self.serfEnvironment()
        // Read stdin first, whatever the event: the agent writes a user event's or a query's
        // payload there too, and logs an error when the handler exits before taking it.
        let input = Self.readStandardInput(limit: SerfHandlerInvocation.maxInputBytes + 1)
        let invocation: SerfHandlerInvocation
        do {
            invocation = try SerfHandlerInvocation(environment: environment, stdin: input, memberPort: UInt16(memberPort), snapshot: snapshot)
        } catch {
            throw Failure("snapshotd forward: \(error)")
        }
        var headers: [(String, String)] = []
        if let tokenFile {
            let grants = try TokenFile(path: tokenFile).load().grants
            guard let first = grants.grants.first else { throw Failure("the token file \(tokenFile) has no token") }
            headers.append(("Authorization", first.authorizationValue))
        }
        let path = "/v1/snapshots/\(invocation.snapshot.rawValue)/events"
        let what = "\(invocation.event.kind.name) to \(target.url(path))"
        let client = MinimalHTTPClient(target: target)
        let body = invocation.body
        var backoff = RetryBackoff()
        while true {
            let outcome = client.post(path: path, contentType: "application/json", headers: headers, body: body, deadline: deadline)
            let problem: String
            var retryAfter: Double?
            switch outcome {
            case .success(let reply) where reply.isSuccess:
                return
            case .success(let reply) where reply.status == 503:
                problem = "503 \(reply.summary)"
                retryAfter = reply.retryAfter
            case .success(let reply):
                throw Failure("snapshotd forward: \(what): \(reply.status) \(reply.summary)")
            case .failure(let error) where error.retryable:
                problem = error.description
            case .failure(let error):
                throw Failure("snapshotd forward: \(what): \(error)")
            }
            var wait = backoff.next(retryAfter: retryAfter)
            let left = deadline.remaining
            if wait >= left, retryAfter.map({ $0 < left }) ?? true {
                wait = left / 2  // a last attempt with half the time left, rather than none
            }
            guard wait < left, left - wait >= 0.02 else {
                let attempts = backoff.attempts == 1 ? "1 attempt" : "\(backoff.attempts) attempts"
                throw Failure("snapshotd forward: \(what): not recorded, gave up after \(attempts) in \(Self.format(timeout - deadline.remaining)) s (--timeout \(Self.format(timeout))): last: \(problem)")
            }
            Deadline.sleep(seconds: wait)
        }
    }

    /// The variables the agent sets, read with getenv (no Foundation on this path).
    static func serfEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in ["SERF_EVENT", "SERF_SELF_NAME", "SERF_USER_EVENT", "SERF_USER_LTIME", "SERF_QUERY_NAME", "SERF_QUERY_LTIME"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// Standard input to its end, keeping at most `limit` bytes (the rest is read and dropped);
    /// nothing from a terminal.
    static func readStandardInput(limit: Int) -> [UInt8] {
        guard isatty(0) == 0 else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            if bytes.count < limit { bytes.append(contentsOf: chunk[0..<min(count, limit - bytes.count)]) }
        }
        return bytes
    }

    private static func format(_ seconds: Double) -> String {
        let tenths = (max(0, seconds) * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }
}
