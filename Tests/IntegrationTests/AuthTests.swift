import Foundation
import Testing

/// The optional bearer token: routes that change state need it; reads stay open unless
/// --protect-reads; a non-loopback listener without a token is warned about.
@Suite struct AuthTests {
    static func tokenFile(_ token: String) throws -> String {
        let path = SnapshotdProcess.makeTempDir() + "/token"
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

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
        while !process.stderrText.contains("401") && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let refusal = process.stderrText.split(separator: "\n").first { $0.contains("401") }.map(String.init) ?? ""
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

    @Test func emptyOrMissingTokenFileIsAClearError() throws {
        let binary = try SnapshotdProcess.locateBinary()
        for file in [try Self.tokenFile(""), "/nonexistent/token"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--listen", "127.0.0.1:0", "--snapshot", SnapshotdProcess.makeTempDir() + "/s", "--token-file", file]
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus != 0)
            #expect(output.contains("token file"))
        }
    }

    @Test func nonLoopbackWithoutTokenIsWarned() throws {
        let (process, _, _) = try ServiceTests.start(nil, ["--listen", "0.0.0.0:0"])
        #expect(process.stderrText.contains("without a token"))
        #expect(try ServiceTests.stop(process) == 0)
    }
}
