import SnapshotCore

/// Which snapshot names a token may use: one exact name (`default`), the names that start with a
/// prefix (`agent-*`: `agent-`, `agent-1`...), or every name (`*`). A `*` is only ever the last
/// byte; the rest must be a valid name, so a pattern never matches what could not be a name.
public enum SnapshotNamePattern: Sendable, Hashable, CustomStringConvertible {
    case all
    case exact(SnapshotName)
    /// Names that start with this one (itself included).
    case prefix(SnapshotName)

    public init(_ text: String) throws(SnapshotNamePatternError) {
        if text == "*" {
            self = .all
            return
        }
        let isPrefix = text.hasSuffix("*")
        let name = isPrefix ? text.dropLast() : Substring(text)
        if let star = name.utf8.firstIndex(of: UInt8(ascii: "*")) {
            throw SnapshotNamePatternError(pattern: text, reason: .starNotLast(offset: name.utf8.distance(from: name.utf8.startIndex, to: star)))
        }
        do throws(SnapshotNameError) {
            let checked = try SnapshotName(name)
            self = isPrefix ? .prefix(checked) : .exact(checked)
        } catch {
            throw SnapshotNamePatternError(pattern: text, reason: .badName(error))
        }
    }

    public func matches(_ name: SnapshotName) -> Bool {
        switch self {
        case .all: true
        case .exact(let exact): name == exact
        case .prefix(let prefix): name.rawValue.utf8.starts(with: prefix.rawValue.utf8)
        }
    }

    public var description: String {
        switch self {
        case .all: "*"
        case .exact(let name): name.rawValue
        case .prefix(let name): name.rawValue + "*"
        }
    }
}

/// Why a text is not a `SnapshotNamePattern`.
public struct SnapshotNamePatternError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// A `*` before the last byte (`a*b`, `**`).
        case starNotLast(offset: Int)
        /// The name (or the prefix before `*`) is not a valid name.
        case badName(SnapshotNameError)
    }

    public var pattern: String
    public var reason: Reason

    public var description: String {
        let quoted = pattern.debugDescription
        return switch reason {
        case .starNotLast(let offset):
            "\(quoted) is not a snapshot name, a prefix ending in \"*\" or \"*\": a \"*\" at byte \(offset) before the end"
        case .badName(let error):
            "\(quoted) is not a snapshot name, a prefix ending in \"*\" or \"*\": \(error)"
        }
    }
}
