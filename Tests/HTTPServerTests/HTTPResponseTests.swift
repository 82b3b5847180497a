import Testing
import HTTPServer

@Suite struct HTTPResponseTests {
    @Test func plainTextError() {
        let response = HTTPErrorFormat.plainText(status: 405, "method not allowed", headers: [("Allow", "GET")])
        #expect(response.status == 405)
        #expect(text(response.body) == "method not allowed\n")
        #expect(response.headers.map { $0.0 } == ["Allow", "Content-Type"])
        #expect(response.headers.last?.1 == "text/plain; charset=utf-8")
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
