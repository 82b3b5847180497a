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
        #expect(response.map { text($0.body) } == "not found\n")
        #expect(response?.headers.contains { $0.0 == "Content-Type" && $0.1 == "text/plain; charset=utf-8" } == true)
    }

    /// The router words its errors in the responder's format (the server's errorFormat).
    @Test func errorsInTheResponderFormat() {
        let format = HTTPErrorFormat { status, message, headers in
            HTTPResponse(status: status, headers: headers + [("X-Format", "test")], body: Array("[\(status) \(message)]".utf8))
        }
        let box = Mutex<[HTTPResponse]>([])
        for (method, path) in [("GET", "/missing"), ("DELETE", "/a")] {
            router.handler(HTTPRequest(method: method, target: path), HTTPResponder(errorFormat: format) { response in
                box.withLock { $0.append(response) }
            })
        }
        let responses = box.withLock { $0 }
        #expect(responses.map { text($0.body) } == ["[404 not found]", "[405 method not allowed]"])
        #expect(responses.last?.headers.map(\.0) == ["Allow", "X-Format"])
    }

    @Test func otherMethodIs405WithAllow() {
        let response = call(router.handler, "DELETE", "/a")
        #expect(response?.status == 405)
        #expect(response?.headers.first { $0.0 == "Allow" }?.1 == "GET, POST")
        #expect(response.map { text($0.body) } == "method not allowed\n")
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

    // MARK: - Patterns

    /// Answers 200 with `<tag> name=value ...` for the request's path parameters, in path order.
    static func echo(_ tag: String) -> HTTPHandler {
        { request, responder in
            let parameters = request.pathParameters.names.map { "\($0)=\(request.pathParameters[$0] ?? "?")" }
            responder.respond(HTTPResponse(status: 200, body: Array(([tag] + parameters).joined(separator: " ").utf8)))
        }
    }

    var patternRouter: Router {
        var router = Router()
        router.add("POST", "/v1/snapshots/{name}/events", Self.echo("events"))
        router.add("GET", "/v1/snapshots/{name}/events", Self.echo("list"))
        router.add("GET", "/v1/{kind}/{id}", Self.echo("two"))
        router.add("PUT", "/v1/{kind}/{id}/events", Self.echo("later"))
        router.add("GET", "/v1/snapshots/default", Self.echo("exact"))
        router.add("GET", "/p/{x}/", Self.echo("slash"))
        router.add("GET", "/{first}", Self.echo("root"))
        return router
    }

    func body(_ handler: HTTPHandler, _ method: String, _ target: String) -> String? {
        call(handler, method, target).flatMap { $0.status == 200 ? text($0.body) : nil }
    }

    @Test func patternMatchesOneSegmentPerParameter() {
        let handler = patternRouter.handler
        #expect(body(handler, "POST", "/v1/snapshots/agent-1/events") == "events name=agent-1")
        #expect(body(handler, "GET", "/v1/snapshots/agent-1/events?since=3") == "list name=agent-1")
        #expect(body(handler, "GET", "/v1/nodes/n7") == "two kind=nodes id=n7")
        #expect(body(handler, "GET", "/top") == "root first=top")
        #expect(call(handler, "POST", "/v1/snapshots/a/b/events")?.status == 404)
        #expect(call(handler, "POST", "/v1/snapshots")?.status == 404)
        #expect(call(handler, "POST", "/v2/snapshots/a/events")?.status == 404)
        #expect(call(handler, "GET", "*")?.status == 404)
    }

    @Test func patternSeesQueryAndParameterValuesAsLongAsTheyCome() {
        var router = Router()
        router.add("POST", "/s/{name}") { request, responder in
            let value = request.pathParameters["name"].map(String.init) ?? "-"
            responder.respond(HTTPResponse(status: 200, body: Array("\(value) \(request.query["x"] ?? "-")".utf8)))
        }
        let long = String(repeating: "n", count: 200)
        #expect(body(router.handler, "POST", "/s/\(long)?x=1") == "\(long) 1")
    }

    @Test func exactPathTakesPrecedenceOverPatterns() {
        let handler = patternRouter.handler
        #expect(body(handler, "GET", "/v1/snapshots/default") == "exact")
        #expect(body(handler, "GET", "/v1/snapshots/other") == "two kind=snapshots id=other")
        // Added after the pattern, still first.
        var router = patternRouter
        router.add("POST", "/v1/snapshots/default/events", Self.echo("exact events"))
        #expect(body(router.handler, "POST", "/v1/snapshots/default/events") == "exact events")
        #expect(body(router.handler, "POST", "/v1/snapshots/x/events") == "events name=x")
    }

    @Test func firstPatternAddedWins() {
        // `/v1/{kind}/{id}/events` matches too, but was added later.
        #expect(body(patternRouter.handler, "GET", "/v1/snapshots/a/events") == "list name=a")
        var router = Router()
        router.add("GET", "/{a}/{b}", Self.echo("broad"))
        router.add("GET", "/x/{b}", Self.echo("narrow"))
        #expect(body(router.handler, "GET", "/x/y") == "broad a=x b=y")
        // Adding a method to a pattern already there keeps its place.
        router.add("POST", "/x/{b}", Self.echo("narrow post"))
        router.add("GET", "/{a}/{b}", Self.echo("broad again"))
        #expect(body(router.handler, "GET", "/x/y") == "broad again a=x b=y")
    }

    @Test func emptySegmentDoesNotMatchAParameter() {
        let handler = patternRouter.handler
        #expect(call(handler, "POST", "/v1/snapshots//events")?.status == 404)
        #expect(call(handler, "GET", "//")?.status == 404)
        #expect(call(handler, "GET", "/")?.status == 404)
        #expect(call(handler, "GET", "/p//")?.status == 404)
    }

    @Test func trailingSlashIsASegment() {
        let handler = patternRouter.handler
        #expect(call(handler, "POST", "/v1/snapshots/a/events/")?.status == 404)
        #expect(call(handler, "GET", "/top/")?.status == 404)
        #expect(body(handler, "GET", "/p/a/") == "slash x=a")
        #expect(call(handler, "GET", "/p/a")?.status == 404)
    }

    @Test func encodedSlashStaysInOneSegment() {
        let handler = patternRouter.handler
        #expect(body(handler, "POST", "/v1/snapshots/a%2Fb/events") == "events name=a%2Fb")
        #expect(body(handler, "POST", "/v1/snapshots/%2e%2E/events") == "events name=%2e%2E")
        #expect(body(handler, "GET", "/%2F") == "root first=%2F")
    }

    @Test func patternWithOtherMethodIs405WithItsAllow() {
        let response = call(patternRouter.handler, "DELETE", "/v1/snapshots/a/events")
        #expect(response?.status == 405)
        #expect(response?.headers.first { $0.0 == "Allow" }?.1 == "POST, GET")
        #expect(response.map { text($0.body) } == "method not allowed\n")
        // The first pattern that matches answers, even when a later one has the method.
        #expect(call(patternRouter.handler, "PUT", "/v1/snapshots/a/events")?.status == 405)
        #expect(body(patternRouter.handler, "PUT", "/v1/nodes/a/events") == "later kind=nodes id=a")
        // And an exact path, even when a pattern has the method.
        let exact = call(patternRouter.handler, "POST", "/v1/snapshots/default")
        #expect(exact?.status == 405)
        #expect(exact?.headers.first { $0.0 == "Allow" }?.1 == "GET")
    }

    @Test func headFallsBackToGetForPatterns() {
        let handler = patternRouter.handler
        #expect(body(handler, "HEAD", "/v1/snapshots/a/events") == "list name=a")
        #expect(body(handler, "HEAD", "/v1/nodes/n7") == "two kind=nodes id=n7")
        #expect(call(handler, "HEAD", "/v1/nodes/a/events")?.headers.first { $0.0 == "Allow" }?.1 == "PUT")
    }

    @Test func exactPathHasNoParameters() {
        var router = Router()
        router.add("GET", "/a/{x}") { request, responder in
            responder.respond(HTTPResponse(status: request.pathParameters.count == 1 ? 200 : 500))
        }
        router.add("GET", "/a/b") { request, responder in
            let parameters = request.pathParameters
            responder.respond(HTTPResponse(status: parameters.isEmpty && parameters["x"] == nil && parameters.names.isEmpty ? 200 : 500))
        }
        #expect(call(router.handler, "GET", "/a/b")?.status == 200)
        #expect(call(router.handler, "GET", "/a/c")?.status == 200)
        #expect(HTTPRequest(method: "GET", target: "/a/b").pathParameters.isEmpty)
    }

    @Test func unknownParameterNameIsNil() {
        var router = Router()
        router.add("GET", "/a/{x}/{y}") { request, responder in
            let p = request.pathParameters
            let ok = p["x"] == "1" && p["y"] == "2" && p["z"] == nil && p["a"] == nil && p.count == 2
            responder.respond(HTTPResponse(status: ok ? 200 : 500))
        }
        #expect(call(router.handler, "GET", "/a/1/2")?.status == 200)
    }

    @Test func routeMatchingNamesTheExactPathOrThePattern() {
        let router = patternRouter
        #expect(router.route(matching: "/v1/snapshots/default") == "/v1/snapshots/default")
        #expect(router.route(matching: "/v1/snapshots/agent-1/events") == "/v1/snapshots/{name}/events")
        #expect(router.route(matching: "/v1/snapshots/a%2Fb/events") == "/v1/snapshots/{name}/events")
        #expect(router.route(matching: "/v1/nodes/a/events") == "/v1/{kind}/{id}/events")
        #expect(router.route(matching: "/v1/nodes/n7") == "/v1/{kind}/{id}")
        #expect(router.route(matching: "/v1/snapshots//events") == nil)
        #expect(router.route(matching: "/v1/snapshots/a/events/") == nil)
        #expect(router.route(matching: "/nope/nope/nope/nope") == nil)
        #expect(router.route(matching: "*") == nil)
        #expect(self.router.route(matching: "/a") == "/a")
        #expect(self.router.route(matching: "/c") == nil)
        #expect(Router().route(matching: "/") == nil)
    }
}
