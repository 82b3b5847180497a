import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum SnapshotdProcessError: Error, CustomStringConvertible {
    case binaryNotFound(tried: [String])
    case exitedBeforeReady(status: Int32, output: String)
    case notReady(seconds: Double, output: String)
    case exitTimeout(seconds: Double, output: String)

    var description: String {
        switch self {
        case .binaryNotFound(let tried):
            "snapshotd binary not found (build it with `swift build`, or set SNAPSHOTD_BIN); tried: "
                + tried.joined(separator: ", ")
        case .exitedBeforeReady(let status, let output):
            "snapshotd exited with status \(status) before it was listening; output:\n\(output)"
        case .notReady(let seconds, let output):
            "snapshotd did not log `listening on http://HOST:PORT` within \(seconds) s; output:\n\(output)"
        case .exitTimeout(let seconds, let output):
            "snapshotd still running \(seconds) s after it was asked to stop; output:\n\(output)"
        }
    }
}

/// Output captured from the child: written by reader threads, read by the test.
private final class CapturedOutput: Sendable {
    private let state = Mutex<(stderr: [UInt8], stdout: [UInt8])>(([], []))

    func append(_ bytes: ArraySlice<UInt8>, toStderr: Bool) {
        state.withLock {
            if toStderr { $0.stderr.append(contentsOf: bytes) } else { $0.stdout.append(contentsOf: bytes) }
        }
    }

    var stderr: String { state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
    var stdout: String { state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }

    /// Reads `fd` until end of file on a thread of its own; closes `fd` when done.
    func startReading(fd: Int32, toStderr: Bool) {
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    append(chunk[0..<count], toStderr: toStderr)
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
        }
        thread.name = toStderr ? "snapshotd-stderr" : "snapshotd-stdout"
        thread.start()
    }
}

/// The real snapshotd, run as a child process on an ephemeral port:
/// `snapshotd serve --listen 127.0.0.1:0 --snapshot PATH <arguments>`.
final class SnapshotdProcess {
    let port: Int
    let baseURL: String
    let executablePath: String
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Everything the process wrote to stderr so far.
    var stderrText: String { output.stderr }
    /// Everything the process wrote to stdout so far.
    var stdoutText: String { output.stdout }

    private let process: Process
    private let output = CapturedOutput()

    /// Launches snapshotd and waits until it logs (on stderr, or stdout) a line containing
    /// `listening on http://HOST:PORT`. Throws if the binary is missing, if the process exits
    /// first, or after `readyTimeout` seconds (the process is then killed). A `launcher` (say
    /// `["/usr/bin/prlimit", "--nofile=128:128"]`) runs snapshotd through a command that execs it,
    /// so that `pid` is still snapshotd's.
    init(
        snapshotPath: String?,
        arguments: [String] = [],
        environment: [String: String] = [:],
        launcher: [String] = [],
        readyTimeout: Double = 20
    ) throws {
        executablePath = try Self.locateBinary()
        process = Process()
        let serve = ["serve", "--listen", "127.0.0.1:0"] + (snapshotPath.map { ["--snapshot", $0] } ?? []) + arguments
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [executablePath] + serve
        } else {
            process.executableURL = URL(fileURLWithPath: executablePath)
            process.arguments = serve
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let stderrPipe = Pipe()
        let stdoutPipe = Pipe()
        process.standardError = stderrPipe
        process.standardOutput = stdoutPipe
        try process.run()
        // The reader threads own duplicates of the read ends, so their lifetime is
        // independent of the Pipe objects and of this instance.
        try? stderrPipe.fileHandleForWriting.close()
        try? stdoutPipe.fileHandleForWriting.close()
        output.startReading(fd: dup(stderrPipe.fileHandleForReading.fileDescriptor), toStderr: true)
        output.startReading(fd: dup(stdoutPipe.fileHandleForReading.fileDescriptor), toStderr: false)

        let deadline = Date().addingTimeInterval(readyTimeout)
        var endpoint: (host: String, port: Int)?
        while true {
            endpoint = Self.parseListening(output.stderr) ?? Self.parseListening(output.stdout)
            if endpoint != nil { break }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)  // let the readers drain what is left
                throw SnapshotdProcessError.exitedBeforeReady(status: Self.exitStatus(of: process), output: Self.combined(output))
            }
            if Date() >= deadline {
                Self.killAndReap(process)
                throw SnapshotdProcessError.notReady(seconds: readyTimeout, output: Self.combined(output))
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        port = endpoint!.port
        baseURL = "http://\(endpoint!.host):\(endpoint!.port)"
    }

    deinit {
        Self.killAndReap(process)
    }

    /// Sends `sig` to the process (no effect once it has exited).
    func signal(_ sig: Int32) {
        guard process.isRunning else { return }
        _ = kill(process.processIdentifier, sig)
    }

    /// Waits for the process to exit and returns its exit code, or 128 + N when signal N
    /// ended it (the shell's convention). Throws after `timeout` seconds.
    func waitForExit(timeout: Double) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline {
                throw SnapshotdProcessError.exitTimeout(seconds: timeout, output: Self.combined(output))
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return Self.exitStatus(of: process)
    }

    /// SIGKILL, then waits (up to 10 s) until the process is gone.
    func kill9() {
        signal(SIGKILL)
        _ = try? waitForExit(timeout: 10)
    }

    /// A fresh, empty directory under /tmp for one test's snapshot.
    static func makeTempDir() -> String {
        var template = Array("/tmp/snapshotd-test.XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let created = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: created)
        }
        guard let path else { fatalError("mkdtemp failed: errno \(errno)") }
        return path
    }

    // MARK: - Helpers

    /// SNAPSHOTD_BIN if set (it must exist); else `snapshotd` next to the running test
    /// binary (same build directory, whatever --build-path); else `<package>/.build/debug/snapshotd`.
    static func locateBinary() throws -> String {
        let fileManager = FileManager.default
        if let fromEnvironment = ProcessInfo.processInfo.environment["SNAPSHOTD_BIN"], !fromEnvironment.isEmpty {
            guard fileManager.isExecutableFile(atPath: fromEnvironment) else {
                throw SnapshotdProcessError.binaryNotFound(tried: ["SNAPSHOTD_BIN=\(fromEnvironment)"])
            }
            return fromEnvironment
        }
        var candidates: [String] = []
        if let testBinary = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(testBinary.deletingLastPathComponent().appendingPathComponent("snapshotd").path)
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // IntegrationTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug/snapshotd").path)
        for candidate in candidates where fileManager.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw SnapshotdProcessError.binaryNotFound(tried: candidates)
    }

    /// Finds `listening on http://HOST:PORT` in `text`; HOST may be `[v6]`.
    static func parseListening(_ text: String) -> (host: String, port: Int)? {
        guard let marker = text.range(of: "listening on http://") else { return nil }
        let rest = text[marker.upperBound...]
        let authority = rest.prefix { !$0.isWhitespace && $0 != "/" && $0 != "\"" && $0 != "'" && $0 != "," }
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        let host = authority[..<colon]
        let digits = authority[authority.index(after: colon)...].prefix { $0.isASCII && $0.isNumber }
        // Only a complete line counts, so a port number is never read half-written.
        guard !host.isEmpty, let port = Int(digits), (1...65535).contains(port),
              digits.endIndex < rest.endIndex
        else { return nil }
        return (String(host), port)
    }

    private static func exitStatus(of process: Process) -> Int32 {
        switch process.terminationReason {
        case .exit: process.terminationStatus
        case .uncaughtSignal: 128 + process.terminationStatus
        @unknown default: process.terminationStatus
        }
    }

    private static func killAndReap(_ process: Process) {
        guard process.isRunning else { return }
        _ = kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    private static func combined(_ output: CapturedOutput) -> String {
        let stdout = output.stdout
        return stdout.isEmpty ? output.stderr : "stderr:\n\(output.stderr)\nstdout:\n\(stdout)"
    }
}
