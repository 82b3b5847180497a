/// Dispatches requests by exact path and method.
///
/// Unknown path → 404 JSON error; known path with another method → 405 JSON error with an
/// `Allow` header listing the path's methods in the order they were added. A HEAD request
/// to a path with a GET route and no HEAD route is served by the GET handler (the server
/// sends no body for HEAD).
public struct Router: Sendable {
    private struct Route: Sendable {
        var method: String
        var handler: HTTPHandler
    }

    private var routes: [String: [Route]] = [:]

    public init() {}

    /// Adds (or replaces) the handler for `method` on `path` (matched exactly against `HTTPRequest.path`).
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping HTTPHandler) {
        var list = routes[path] ?? []
        if let index = list.firstIndex(where: { $0.method == method }) {
            list[index].handler = handler
        } else {
            list.append(Route(method: method, handler: handler))
        }
        routes[path] = list
    }

    /// The dispatching handler, a snapshot of the routes added so far.
    public var handler: HTTPHandler {
        let routes = self.routes
        return { request, responder in
            guard let list = routes[request.path] else {
                responder.respond(.error(status: 404, "not found"))
                return
            }
            if let route = list.first(where: { $0.method == request.method }) {
                route.handler(request, responder)
                return
            }
            if request.method == "HEAD", let route = list.first(where: { $0.method == "GET" }) {
                route.handler(request, responder)
                return
            }
            let allow = list.map(\.method).joined(separator: ", ")
            responder.respond(.error(status: 405, "method not allowed", headers: [("Allow", allow)]))
        }
    }
}
