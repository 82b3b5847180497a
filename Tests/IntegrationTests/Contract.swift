import Foundation
import Synchronization

/// Records every response the integration tests see, so that `make test` can check each one
/// against openapi.yaml (Tests/Contract/check_responses.py) after the run. Recording happens
/// when SNAPSHOTD_CONTRACT_LOG names a file.
enum Contract {
    private static let lock = Mutex<Void>(())
    static let logPath = ProcessInfo.processInfo.environment["SNAPSHOTD_CONTRACT_LOG"]

    static func check(_ response: CurlResponse, _ method: String, _ path: String) throws {
        guard let logPath else { return }
        var headers: [String: String] = [:]
        for name in ["content-type", "retry-after", "allow", "www-authenticate", "content-disposition"] {
            if let value = response.header(name) { headers[name] = value }
        }
        let entry: [String: Any] = [
            "method": method, "path": path, "status": response.status, "headers": headers, "body": response.text,
        ]
        var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        line.append(0x0A)
        lock.withLock { _ in
            if let handle = FileHandle(forWritingAtPath: logPath) {
                handle.seekToEndOfFile()
                handle.write(line)
                try? handle.close()
            } else {
                _ = FileManager.default.createFile(atPath: logPath, contents: line)
            }
        }
    }
}
