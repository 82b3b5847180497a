import HTTPServer
@testable import SnapshotService
import Testing

/// What the API reads from a request before any route runs: the bearer credentials, the content
/// coding and the media type.
@Suite struct SnapshotAPIRequestTests {
    private let grants = try? TokenGrants(parsing: "s3cret\n")

    /// RFC 9110 §11.1: the auth scheme is case-insensitive; one or more spaces separate it from
    /// the token, which is compared exactly.
    @Test(arguments: ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR s3cret", "Bearer   s3cret"])
    func bearerInAnyCase(header: String) {
        #expect(grants?.authorize(header, snapshot: .default) == .granted)
    }

    @Test(arguments: ["Bearer S3CRET", "Bearer s3cre", "Bearer s3cretx", "Bearers3cret", "Bearer", "Bearer ", "Bearer  ", "s3cret",
                      "Basic s3cret", "Bearer\ts3cret", "XBearer s3cret", "earer s3cret", "Bearer s3cret ", ""])
    func anythingElseIsRefused(header: String) {
        #expect(grants?.authorize(header, snapshot: .default) == .unknownToken)
    }

    @Test func noHeaderIsRefused() {
        #expect(grants?.authorize(nil, snapshot: .default) == .unknownToken)
        #expect(grants?.authorize(nil, snapshot: nil) == .unknownToken)
    }

    @Test func contentCodings() {
        func coding(_ values: [String]) -> String? {
            SnapshotAPI.contentCoding(HTTPHeaders(values.map { ("Content-Encoding", $0) }))
        }
        #expect(coding([]) == nil)
        #expect(coding(["identity"]) == nil)
        #expect(coding(["Identity, identity"]) == nil)
        #expect(coding([""]) == nil)
        #expect(coding(["gzip"]) == "gzip")
        #expect(coding(["identity", " br "]) == "br")
        #expect(coding(["identity, deflate"]) == "deflate")
    }

    @Test(arguments: [
        ("application/json", EventDecoder.Format.single), ("application/x-ndjson", .ndjson), ("application/ndjson", .ndjson),
        ("Application/NDJSON ; charset=utf-8", .ndjson), (" application/json;charset=utf-8", .single),
    ])
    func mediaTypes(header: String, format: EventDecoder.Format) {
        #expect(SnapshotAPI.eventFormat(contentType: header) == format)
    }

    @Test(arguments: ["text/plain", "application/jsonx", "application/ndjsonl", "application/x-json", ""])
    func otherMediaTypes(header: String) {
        #expect(SnapshotAPI.eventFormat(contentType: header) == nil)
    }

    /// One occurrence a second gets through, carrying the number held back since the last.
    @Test func rateLimitedCounter() {
        let counter = RateLimitedCounter(interval: 1.0)
        let second: UInt64 = 1_000_000_000
        #expect(counter.record(now: 10 * second) == 0)
        #expect(counter.record(now: 10 * second + 1) == nil)
        #expect(counter.record(now: 10 * second + second / 2) == nil)
        #expect(counter.record(now: 11 * second) == 2)
        #expect(counter.record(now: 11 * second + 5) == nil)
        #expect(counter.record(now: 20 * second) == 1)
        #expect(counter.record(now: 21 * second) == 0)
    }
}
