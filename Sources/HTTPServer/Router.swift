/// Dispatches requests by path and method: exact paths, and patterns with `{name}` segments.
///
/// A request's path (raw, still percent-encoded) is looked up among the exact paths first;
/// when none is equal, the patterns are tried in the order they were added and the first that
/// matches serves it (see `PathPattern`: a `{name}` segment is one non-empty segment, `%2F`
/// included, as the router does not decode). The handler then finds the captured segments in
/// `HTTPRequest.pathParameters`.
///
/// Unknown path → 404 JSON error; known path (or pattern) with another method → 405 JSON error
/// with an `Allow` header listing the methods of that path (or pattern) in the order they were
/// added, even when a later pattern would have the method. A HEAD request to a path with a GET
/// route and no HEAD route is served by the GET handler (the server sends no body for HEAD).
public struct Router: Sendable {
    private struct Route: Sendable {
        var method: String
        var handler: HTTPHandler
    }

    private struct PatternRoutes: Sendable {
        var pattern: PathPattern
        var routes: [Route]
    }

    private var routes: [String: [Route]] = [:]
    /// In the order they were added: the first that matches wins.
    private var patterns: [PatternRoutes] = []

    public init() {}

    /// Adds (or replaces) the handler for `method` on `path`: matched exactly against
    /// `HTTPRequest.path`, or, when it has a `{name}` segment, a pattern
    /// (`/v1/snapshots/{name}/events`). A pattern must start with `/`, and each brace in it
    /// must be part of a whole `{name}` segment with a name not used twice (checked here: a
    /// malformed pattern is a programming error and stops the program).
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping HTTPHandler) {
        if PathPattern.isPattern(path) {
            if let index = patterns.firstIndex(where: { $0.pattern.text == path }) {
                Self.set(method, handler, in: &patterns[index].routes)
            } else {
                var list: [Route] = []
                Self.set(method, handler, in: &list)
                patterns.append(PatternRoutes(pattern: PathPattern(path), routes: list))
            }
        } else {
            Self.set(method, handler, in: &routes[path, default: []])
        }
    }

    private static func set(_ method: String, _ handler: @escaping HTTPHandler, in list: inout [Route]) {
        if let index = list.firstIndex(where: { $0.method == method }) {
            list[index].handler = handler
        } else {
            list.append(Route(method: method, handler: handler))
        }
    }

    /// The route a request path falls under: the exact path when one was added, else the text
    /// of the first pattern that matches it (`/v1/snapshots/{name}/events`), nil when none
    /// does. A bounded set of strings (the ones added), for metrics labels. One hash lookup,
    /// then a byte scan per pattern; no allocation.
    public func route(matching path: String) -> String? {
        if let index = routes.index(forKey: path) {
            return routes[index].key
        }
        return patternIndex(matching: path).map { patterns[$0].pattern.text }
    }

    private func patternIndex(matching path: String) -> Int? {
        guard !patterns.isEmpty else { return nil }
        var path = path
        return path.withUTF8 { bytes in patterns.firstIndex { $0.pattern.matches(bytes) } }
    }

    /// The dispatching handler, a snapshot of the routes added so far.
    public var handler: HTTPHandler {
        let router = self
        return { request, responder in
            if let list = router.routes[request.path] {
                Self.dispatch(request, to: list, responder)
                return
            }
            if let index = router.patternIndex(matching: request.path) {
                let entry = router.patterns[index]
                var request = request
                request.pathParameters = HTTPPathParameters(pattern: entry.pattern, path: request.path)
                Self.dispatch(request, to: entry.routes, responder)
                return
            }
            responder.respondError(status: 404, "not found")
        }
    }

    private static func dispatch(_ request: HTTPRequest, to list: [Route], _ responder: HTTPResponder) {
        if let route = list.first(where: { $0.method == request.method }) {
            route.handler(request, responder)
            return
        }
        if request.method == "HEAD", let route = list.first(where: { $0.method == "GET" }) {
            route.handler(request, responder)
            return
        }
        let allow = list.map(\.method).joined(separator: ", ")
        responder.respondError(status: 405, "method not allowed", headers: [("Allow", allow)])
    }
}
