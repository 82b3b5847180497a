/// The segments a request's path gave the `{name}` segments of the route pattern it matched,
/// still percent-encoded as they came: `/v1/snapshots/a%2Fb/events` under
/// `/v1/snapshots/{name}/events` gives `["name"]` = `a%2Fb`.
///
/// A view over the path rather than a dictionary: setting it keeps a reference to the
/// pattern and to the path (no allocation), and a lookup walks the path's segments, so a
/// request pays for its parameters only in the bytes it reads. Empty for a request that
/// matched an exact path, or that no router served.
public struct HTTPPathParameters: Sendable {
    private let pattern: PathPattern?
    private let path: String

    /// No parameters.
    public init() {
        pattern = nil
        path = ""
    }

    /// The parameters of `path`, which `pattern` matches.
    init(pattern: PathPattern, path: String) {
        self.pattern = pattern
        self.path = path
    }

    /// The segment captured by `{name}`, nil when the pattern has no such parameter.
    public subscript(name: String) -> Substring? {
        guard let pattern, let position = pattern.segments.firstIndex(of: .parameter(name)) else { return nil }
        let utf8 = path.utf8
        var start = utf8.index(after: utf8.startIndex)  // after the leading "/", which a match has
        for _ in 0..<position {
            guard let slash = utf8[start...].firstIndex(of: UInt8(ascii: "/")) else { return nil }
            start = utf8.index(after: slash)
        }
        let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
        return path[start..<end]
    }

    /// The parameter names of the pattern, in path order.
    public var names: [String] {
        pattern?.segments.compactMap { segment in
            if case .parameter(let name) = segment { name } else { nil }
        } ?? []
    }

    /// How many parameters the pattern has.
    public var count: Int { pattern?.parameterCount ?? 0 }

    public var isEmpty: Bool { count == 0 }
}
