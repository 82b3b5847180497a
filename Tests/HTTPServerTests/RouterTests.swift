import Synchronization
import Testing
import HTTPServer

/// Calls `handler` with a callback responder and returns what it answered synchronously.
func call(_ handler: HTTPHandler, _ method: String, _ target: String) -> HTTPResponse? {
    let box = Mutex<HTTPResponse?>(nil)
    handler(HTTPRequest(method: method, target: target), HTTPResponder { response in
        box.withLock { $0 = response }
    })
    return box.withLock { $0 }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite struct RouterTests {
    var router: Router {
        var router = Router()
        router.add("GET", "/a") { _, responder in responder.respond(HTTPResponse(status: 200, body: Array("get a".utf8))) }
        router.add("POST", "/a") { request, responder in
            responder.respond(HTTPResponse(status: 201, body: Array("post a \(request.query["x"] ?? "-")".utf8)))
        }
        router.add("PUT", "/b") { _, responder in responder.respond(HTTPResponse(status: 204)) }
        return router
    }

    @Test func dispatchesByPathAndMethod() {
        let handler = router.handler
        #expect(call(handler, "GET", "/a").map { text($0.body) } == "get a")
        #expect(call(handler, "POST", "/a?x=1").map { text($0.body) } == "post a 1")
        #expect(call(handler, "PUT", "/b?q")?.status == 204)
    }

    @Test func unknownPathIs404() {
        let response = call(router.handler, "GET", "/missing")
        #expect(response?.status == 404)
        #expect(response.map { text($0.body) } == #"{"error":"not found"}"#)
        #expect(response?.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/json" } == true)
    }

    @Test func otherMethodIs405WithAllow() {
        let response = call(router.handler, "DELETE", "/a")
        #expect(response?.status == 405)
        #expect(response?.headers.first { $0.0 == "Allow" }?.1 == "GET, POST")
        #expect(response.map { text($0.body) } == #"{"error":"method not allowed"}"#)
        #expect(call(router.handler, "get", "/a")?.status == 405)
    }

    @Test func headFallsBackToGet() {
        #expect(call(router.handler, "HEAD", "/a")?.status == 200)
        #expect(call(router.handler, "HEAD", "/b")?.status == 405)
    }

    @Test func laterAddReplaces() {
        var router = self.router
        router.add("GET", "/a") { _, responder in responder.respond(HTTPResponse(status: 202)) }
        #expect(call(router.handler, "GET", "/a")?.status == 202)
        #expect(call(router.handler, "DELETE", "/a")?.headers.first { $0.0 == "Allow" }?.1 == "GET, POST")
    }

    @Test func responderIsOneShot() {
        let count = Atomic<Int>(0)
        let responder = HTTPResponder { _ in count.add(1, ordering: .relaxed) }
        responder.respond(HTTPResponse(status: 200))
        responder.respond(HTTPResponse(status: 500))
        let calls = count.load(ordering: .relaxed)
        #expect(calls == 1)
    }
}
