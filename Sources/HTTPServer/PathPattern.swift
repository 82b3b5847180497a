/// A route path with parameter segments, `/v1/snapshots/{name}/events`, matched against the
/// raw (still percent-encoded) `HTTPRequest.path`.
///
/// The path is split at each `/`. A `{x}` segment matches exactly one non-empty segment (any
/// bytes but `/`, so `%2F` stays inside it: the router does not decode); any other segment
/// matches the same bytes only. The number of segments must be equal, so `/a/{x}` matches
/// neither `/a/b/` (a last, empty segment) nor `/a//`.
///
/// A class, made once when the route is added: a request's `HTTPPathParameters` keeps a
/// reference to it (one word in every `HTTPRequest`).
final class PathPattern: Sendable {
    enum Segment: Sendable, Equatable {
        case literal([UInt8])
        case parameter(String)
    }

    /// The text the pattern was made from, as given to `Router.add`.
    let text: String
    let segments: [Segment]
    /// How many segments are parameters.
    let parameterCount: Int

    /// Whether `path` has a `{...}` segment (and is then a pattern rather than an exact path).
    static func isPattern(_ path: String) -> Bool {
        path.utf8.contains(UInt8(ascii: "{"))
    }

    /// Parses `text`. A route is the program's, not a client's: a malformed one (not starting
    /// with `/`, a brace that is not a whole `{name}` segment, an empty or repeated name) stops it.
    init(_ text: String) {
        precondition(text.utf8.first == UInt8(ascii: "/"), "route pattern \(text) does not start with /")
        var segments: [Segment] = []
        var names: Set<String> = []
        for part in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let bytes = Array(part)
            if bytes.first == UInt8(ascii: "{") && bytes.last == UInt8(ascii: "}") && bytes.count > 2 {
                let name = String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self)
                precondition(!name.utf8.contains { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") },
                             "route pattern \(text): a brace inside the parameter name \(name)")
                precondition(names.insert(name).inserted, "route pattern \(text): the parameter \(name) repeats")
                segments.append(.parameter(name))
            } else {
                precondition(!bytes.contains { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") },
                             "route pattern \(text): a brace in a segment that is not a whole {name}")
                segments.append(.literal(bytes))
            }
        }
        self.text = text
        self.segments = segments
        self.parameterCount = names.count
    }

    /// Whether `path` (its UTF-8 bytes) falls under the pattern. No allocation.
    func matches(_ path: UnsafeBufferPointer<UInt8>) -> Bool {
        var iterator = Self.pathSegments(path)
        for segment in segments {
            guard let range = iterator.next() else { return false }
            switch segment {
            case .literal(let bytes):
                guard range.count == bytes.count else { return false }
                var index = range.lowerBound
                for byte in bytes {
                    guard path[index] == byte else { return false }
                    index += 1
                }
            case .parameter:
                guard !range.isEmpty else { return false }
            }
        }
        return iterator.next() == nil
    }

    /// The byte range of each segment of `path` after its leading `/` (none when `path` does
    /// not start with `/`, as `*` does).
    static func pathSegments(_ path: UnsafeBufferPointer<UInt8>) -> SegmentRanges {
        SegmentRanges(path: path)
    }

    struct SegmentRanges: IteratorProtocol {
        let path: UnsafeBufferPointer<UInt8>
        /// Where the next segment starts; nil once the last has been returned.
        var start: Int?

        init(path: UnsafeBufferPointer<UInt8>) {
            self.path = path
            start = path.first == UInt8(ascii: "/") ? 1 : nil
        }

        mutating func next() -> Range<Int>? {
            guard let from = start else { return nil }
            var end = from
            while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
            start = end < path.count ? end + 1 : nil
            return from..<end
        }
    }
}
