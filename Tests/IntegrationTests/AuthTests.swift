import Foundation
import Testing

/// The optional bearer tokens: routes that change state need one; reads stay open unless
/// --protect-reads; a token's grants limit the snapshots it may use (403 otherwise); SIGHUP
/// reloads the file; a non-loopback listener without a token is warned about.
@Suite struct AuthTests {
    static func tokenFile(_ token: String) throws -> String {
        try grantsFile(token + "\n")
    }

    /// A token file holding `text` exactly, readable by its owner only (unless `mode` says otherwise).
    static func grantsFile(_ text: String, mode: Int = 0o600) throws -> String {
        let path = SnapshotdProcess.makeTempDir() + "/token"
        try write(text, to: path, mode: mode)
        return path
    }

    /// Replaces the file at `path` as an editor or a secret store does: a new file renamed over it.
    static func write(_ text: String, to path: String, mode: Int = 0o600) throws {
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw CurlError(message: "cannot write \(temporary)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary)  // whatever the umask
        guard rename(temporary, path) == 0 else { throw CurlError(message: "cannot rename \(temporary): errno \(errno)") }
    }

    /// Waits until the process has logged `text` `count` times (or 10 s have passed).
    static func waitForLog(_ process: SnapshotdProcess, _ text: String, count: Int = 1) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while process.stderrText.components(separatedBy: text).count - 1 < count {
            if Date() >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return true
    }

    static func bearer(_ token: String) -> [String] { ["Authorization: Bearer \(token)"] }

    static let event = Array(#"{"type":"user","ltime":1,"name":"x"}"#.utf8)

    @Test func stateChangingRoutesNeedTheToken() throws {
        let token = "s3cret-token-\(UInt32.random(in: 0...UInt32.max))"
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", try Self.tokenFile(token)])
        for path in ["/v1/events", "/v1/compact", "/v1/leave"] {
            let denied = try client.post(path, body: Self.event)
            try Contract.check(denied, "POST", path)
            #expect(denied.status == 401, "\(path)")
            #expect(denied.header("www-authenticate")?.hasPrefix("Bearer") == true)
            let wrong = try client.post(path, body: Self.event, headers: ["Authorization: Bearer \(token)x"])
            #expect(wrong.status == 401)
            let short = try client.post(path, body: Self.event, headers: ["Authorization: Bearer"])
            #expect(short.status == 401)
        }
        let allowed = try client.post("/v1/events", body: Self.event, headers: ["Authorization: Bearer \(token)"])
        #expect(allowed.status == 200)
        #expect(try client.get("/v1/snapshot").status == 200)
        #expect(try client.get("/metrics").status == 200)
        #expect(try client.get("/readyz").status == 200)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// The auth scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` and extra spaces
    /// before the token are accepted; the token itself is compared exactly. A refusal is logged
    /// at info with the client's address.
    @Test func schemeIsCaseInsensitive() throws {
        let token = "Case-Sensitive-Token"
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", try Self.tokenFile(token)])
        for scheme in ["bearer", "BEARER", "BeArEr", "Bearer "] {
            let response = try client.post("/v1/events", body: Self.event, headers: ["Authorization: \(scheme) \(token)"])
            try Contract.check(response, "POST", "/v1/events")
            #expect(response.status == 200, "\(scheme): \(response.text)")
        }
        for wrong in ["bearer \(token.lowercased())", "Bearer\(token)", "Basic \(token)", "bearer", token] {
            let response = try client.post("/v1/events", body: Self.event, headers: ["Authorization: \(wrong)"])
            #expect(response.status == 401, "\(wrong)")
        }
        let deadline = Date().addingTimeInterval(5)
        // The refusal's line, not any line with 401 in it (a port such as 33401 in "listening on").
        let marker = "] 401: "
        while !process.stderrText.contains(marker) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let refusal = process.stderrText.split(separator: "\n").first { $0.contains(marker) }.map(String.init) ?? ""
        #expect(refusal.contains("info") && refusal.contains("client=127.0.0.1:") && refusal.contains("/v1/events"),
                "\(process.stderrText)")
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func protectReadsCoversSnapshotAndMetrics() throws {
        let token = "another-token"
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", try Self.tokenFile(token), "--protect-reads"])
        for path in ["/v1/snapshot", "/metrics"] {
            let denied = try client.get(path)
            try Contract.check(denied, "GET", path)
            #expect(denied.status == 401)
        }
        #expect(try client.get("/v1/snapshot", headers: ["Authorization: Bearer \(token)"]).status == 200)
        #expect(try client.get("/healthz").status == 200)
        #expect(try client.get("/readyz").status == 200)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// `serve --token-file FILE` that cannot start: its exit status and output.
    static func failedStart(tokenFile file: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try SnapshotdProcess.locateBinary())
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--snapshot", SnapshotdProcess.makeTempDir() + "/s", "--token-file", file]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        return (process.terminationStatus, output)
    }

    @Test func emptyOrMissingTokenFileIsAClearError() throws {
        for file in [try Self.tokenFile(""), try Self.grantsFile("# a comment only\n"), "/nonexistent/token", SnapshotdProcess.makeTempDir()] {
            let (status, output) = try Self.failedStart(tokenFile: file)
            #expect(status == 1, "\(output)")
            #expect(output.contains("token file"), "\(output)")
        }
    }

    /// A file that does not parse stops serve at start: exit 1, one line naming the file and the line.
    @Test func malformedGrantsFileExitsNamingTheLine() throws {
        let file = try Self.grantsFile("# tokens\ngood-token default\nbad-token agent*x\n")
        let (status, output) = try Self.failedStart(tokenFile: file)
        #expect(status == 1, "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(output.contains("the token file \(file): line 3: \"agent*x\" is not a snapshot name"), "\(output)")
        #expect(!output.contains("good-token") && !output.contains("bad-token"), "a token is never printed: \(output)")
    }

    /// A token for `default` and one for `agent-*` only: the second is refused (403) on every route
    /// that acts on the default snapshot, reads too with --protect-reads; /metrics (no snapshot)
    /// takes any known token; an unknown token is still 401; health routes stay open.
    @Test func grantsLimitTokensToTheirSnapshots() throws {
        let file = try Self.grantsFile("# who may use what\ndefault-token default\n\nagent-token agent-*\n")
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file, "--protect-reads"])
        let refused = try client.post("/v1/events", body: Self.event, headers: Self.bearer("agent-token"))
        try Contract.check(refused, "POST", "/v1/events")
        #expect(refused.status == 403)
        #expect(refused.header("content-type") == "application/json")
        #expect(refused.text == #"{"error":"this token may not use the snapshot \"default\""}"#, "\(refused.text)")
        #expect(refused.header("www-authenticate") == nil)
        let allowed = try client.post("/v1/events", body: Self.event, headers: Self.bearer("default-token"))
        try Contract.check(allowed, "POST", "/v1/events")
        #expect(allowed.status == 200, "\(allowed.text)")
        for path in ["/v1/leave", "/v1/rejoin", "/v1/compact"] {
            let response = try client.post(path, body: [], headers: Self.bearer("agent-token"))
            try Contract.check(response, "POST", path)
            #expect(response.status == 403, "\(path)")
        }
        let read = try client.get("/v1/snapshot", headers: Self.bearer("agent-token"))
        try Contract.check(read, "GET", "/v1/snapshot")
        #expect(read.status == 403)
        #expect(try client.get("/v1/snapshot", headers: Self.bearer("default-token")).status == 200)
        for token in ["agent-token", "default-token"] {
            let metrics = try client.get("/metrics", headers: Self.bearer(token))
            try Contract.check(metrics, "GET", "/metrics")
            #expect(metrics.status == 200, "\(token)")
        }
        for headers in [[], Self.bearer("nobody"), Self.bearer("agent-token default")] {
            let denied = try client.post("/v1/events", body: Self.event, headers: headers)
            #expect(denied.status == 401, "\(headers)")
            #expect(denied.header("www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(try client.get("/metrics", headers: headers).status == 401)
        }
        #expect(try client.get("/healthz").status == 200)
        #expect(try client.get("/readyz").status == 200)
        // The refusal is logged with the client and the line of the grant, never the token.
        #expect(Self.waitForLog(process, "403: POST /v1/events"), "\(process.stderrText)")
        let line = process.stderrText.split(separator: "\n").first { $0.contains("403: POST /v1/events") }.map(String.init) ?? ""
        #expect(line.contains("client=127.0.0.1:") && line.contains("token_file_line=4"), "\(line)")
        #expect(!process.stderrText.contains("agent-token") && !process.stderrText.contains("default-token"))
        #expect(!process.stderrText.contains("chmod 600"), "a file only its owner reads is not warned about")
        #expect(process.stderrText.contains("tokens=2"), "\(process.stderrText)")
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// Today's file, one token and blanks around it, still grants everything.
    @Test func oneTokenFileKeepsItsMeaning() throws {
        let file = try Self.grantsFile("\n  legacy-token-\(UInt32.random(in: 0...UInt32.max))\t \r\n\n")
        let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file, "--protect-reads"])
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer(token)).status == 200)
        #expect(try client.post("/v1/compact", body: [], headers: Self.bearer(token)).status == 200)
        #expect(try client.get("/v1/snapshot", headers: Self.bearer(token)).status == 200)
        #expect(try client.get("/metrics", headers: Self.bearer(token)).status == 200)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer(token + "x")).status == 401)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// SIGHUP reads the file again, without a restart: a token taken out is refused (401) from
    /// then on, a new one is accepted. A file that no longer parses keeps the tokens in force.
    @Test func sighupReloadsTheTokenFile() throws {
        let file = try Self.grantsFile("old-token\n")
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file])
        let pid = process.pid
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("old-token")).status == 200)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("new-token")).status == 401)

        try Self.write("# rotated\nnew-token default\nagent-token agent-*\n", to: file)
        process.signal(SIGHUP)
        #expect(Self.waitForLog(process, "token file reloaded"), "\(process.stderrText)")
        let revoked = try client.post("/v1/events", body: Self.event, headers: Self.bearer("old-token"))
        try Contract.check(revoked, "POST", "/v1/events")
        #expect(revoked.status == 401)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("new-token")).status == 200)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("agent-token")).status == 403)

        try Self.write("new-token default\nbroken agent*x\n", to: file)
        process.signal(SIGHUP)
        #expect(Self.waitForLog(process, "token file not reloaded"), "\(process.stderrText)")
        let error = process.stderrText.split(separator: "\n").first { $0.contains("token file not reloaded") }.map(String.init) ?? ""
        #expect(error.contains("error") && error.contains("line 2"), "\(error)")
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("new-token")).status == 200)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("agent-token")).status == 403)
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("broken")).status == 401)

        try FileManager.default.removeItem(atPath: file)
        process.signal(SIGHUP)
        #expect(Self.waitForLog(process, "token file not reloaded", count: 2), "\(process.stderrText)")
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("new-token")).status == 200)

        #expect(process.isRunning && process.pid == pid)
        #expect(process.stderrText.components(separatedBy: "listening on").count == 2, "one start only")
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// SIGHUP without a token file is logged and does nothing else (it used to end the process).
    @Test func sighupWithoutATokenFileKeepsServing() throws {
        let (process, client, _) = try ServiceTests.start()
        process.signal(SIGHUP)
        #expect(Self.waitForLog(process, "no token file to reload"), "\(process.stderrText)")
        #expect(try client.get("/readyz").status == 200)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// A token file its group or others can read is warned about at start (and on reload).
    @Test func readableTokenFileIsWarned() throws {
        let file = try Self.grantsFile("a-token\n", mode: 0o640)
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file])
        let warning = process.stderrText.split(separator: "\n").first { $0.contains("chmod 600") }.map(String.init) ?? ""
        #expect(warning.contains("warning") && warning.contains("\(file) is readable by its group (mode 640)"), "\(process.stderrText)")
        #expect(try client.post("/v1/events", body: Self.event, headers: Self.bearer("a-token")).status == 200)
        try Self.write("a-token\n", to: file, mode: 0o604)
        process.signal(SIGHUP)
        #expect(Self.waitForLog(process, "token file reloaded"), "\(process.stderrText)")
        #expect(process.stderrText.contains("is readable by others (mode 604)"), "\(process.stderrText)")
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func nonLoopbackWithoutTokenIsWarned() throws {
        let (process, _, _) = try ServiceTests.start(nil, ["--listen", "0.0.0.0:0"])
        #expect(process.stderrText.contains("without a token"))
        #expect(try ServiceTests.stop(process) == 0)
    }
}
