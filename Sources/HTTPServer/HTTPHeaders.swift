/// An ordered list of header fields as received (or to be sent).
///
/// Names keep their original spelling; lookups compare names ASCII case-insensitively,
/// as field names are case-insensitive (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Sequence {
    public typealias Element = (name: String, value: String)

    internal var fields: [Element]

    public init() {
        fields = []
    }

    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    internal init(reservingCapacity capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    /// The first value of the field `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        for field in fields where field.name.asciiCaseInsensitiveEquals(name) {
            return field.value
        }
        return nil
    }

    /// Every value of the field `name` (case-insensitive), in received order.
    /// Each field line is one element; comma-separated lists are not split.
    public func values(_ name: String) -> [String] {
        var result: [String] = []
        for field in fields where field.name.asciiCaseInsensitiveEquals(name) {
            result.append(field.value)
        }
        return result
    }

    /// Whether a field named `name` (case-insensitive) is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { $0.name.asciiCaseInsensitiveEquals(name) }
    }

    /// Appends a field line, keeping any existing ones of the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// The number of field lines.
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    /// Whether the comma-separated list in the fields named `name` contains `token`
    /// (case-insensitive, surrounding whitespace ignored), e.g. `Connection: keep-alive, Upgrade`.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where field.name.asciiCaseInsensitiveEquals(name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                if trimmedOWS(element).asciiCaseInsensitiveEquals(token.utf8) {
                    return true
                }
            }
        }
        return false
    }
}
