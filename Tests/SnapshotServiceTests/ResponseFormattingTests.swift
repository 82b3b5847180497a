import Foundation
@testable import SnapshotCore
import HTTPServer
import Testing

@testable import SnapshotService

/// The hand-written, allocation-lean pieces of the ingest path, against what Foundation would
/// have produced.
@Suite struct ResponseFormattingTests {
    @Test func jsonError() {
        let response = HTTPResponse.error(status: 400, "bad \"thing\"\\\n\u{1}\u{7F}é", headers: [("X-A", "1")])
        #expect(response.status == 400)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"error":"bad \"thing\"\\\n\u0001\u007fé"}"#)
        #expect(response.headers.map { $0.0 } == ["X-A", "Content-Type"])
        #expect(response.headers.last?.1 == "application/json")
    }

    /// The errors the HTTP server answers itself are the API's JSON, once the API configured it.
    @Test func theServerErrorsAreTheAPIs() {
        var http = HTTPServerConfiguration()
        SnapshotAPI.configure(&http)
        let response = http.errorFormat(status: 405, "method not allowed", headers: [("Allow", "GET")])
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"error":"method not allowed"}"#)
        #expect(response.headers.map { $0.0 } == ["Allow", "Content-Type"])
        #expect(response.headers.last?.1 == "application/json")
    }

    @Test(arguments: [
        ("application/json", EventDecoder.Format.single),
        ("Application/JSON", .single),
        ("application/json; charset=utf-8", .single),
        ("  application/json\t;charset=utf-8", .single),
        ("application/x-ndjson", .ndjson),
        ("APPLICATION/X-NDJSON ; q=1", .ndjson),
    ])
    func contentTypesThatNameAnEventFormat(header: String, format: EventDecoder.Format) {
        #expect(SnapshotAPI.eventFormat(contentType: header) == format)
    }

    @Test(arguments: ["", ";", "text/plain", "application/jsonx", "application/json-seq", "application/", "json",
                      "application/ json", "application/x-ndjson2", "applicationjson"])
    func contentTypesThatDoNot(header: String) {
        #expect(SnapshotAPI.eventFormat(contentType: header) == nil)
    }

    @Test func missingContentType() {
        #expect(SnapshotAPI.eventFormat(contentType: nil) == nil)
    }

    // 0..<64 come from a table made once; 64 on are formatted per call.
    @Test(arguments: [0, 1, 9, 10, 62, 63, 64, 65, 1000, 20000, Int.max])
    func acknowledgementIsTheJSONFoundationWouldWrite(accepted: Int) throws {
        for durable in [true, false] {
            let body = ResponseBodies.acknowledgement(Acknowledgement(accepted: accepted, durable: durable))
            #expect(String(decoding: body, as: UTF8.self) == "{\"accepted\":\(accepted),\"durable\":\(durable)}")
            let decoded = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
            #expect((decoded?["accepted"] as? NSNumber)?.intValue == accepted)
            #expect((decoded?["durable"] as? Bool) == durable)
        }
    }
}
