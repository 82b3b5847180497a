import Testing
import HTTPServer

@Suite struct HTTPResponseTests {
    @Test func jsonError() {
        let response = HTTPResponse.error(status: 400, "bad \"thing\"\\\n\u{1}é", headers: [("X-A", "1")])
        #expect(response.status == 400)
        #expect(text(response.body) == #"{"error":"bad \"thing\"\\\n\u0001é"}"#)
        #expect(response.headers.map { $0.0 } == ["X-A", "Content-Type"])
    }

    @Test func json() {
        let response = HTTPResponse.json(status: 201, Array("{}".utf8))
        #expect(response.status == 201)
        #expect(response.headers.first?.1 == "application/json")
    }

    @Test func headers() {
        var headers = HTTPHeaders([("A", "1"), ("b", "2"), ("a", "3")])
        headers.add(name: "C", value: "4")
        #expect(headers["a"] == "1")
        #expect(headers.values("A") == ["1", "3"])
        #expect(headers.count == 4)
        #expect(headers.map { $0.name } == ["A", "b", "a", "C"])
        #expect(headers.contains("c"))
    }
}
