import SnapshotCore

/// One line of the token file: a token and the snapshot names it may use. Its description names
/// the line and the patterns, never the token.
public struct TokenGrant: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The token's bytes (UTF-8).
    let token: [UInt8]
    /// Never empty: a token alone on its line has `[.all]`.
    public let patterns: [SnapshotNamePattern]
    /// Its line in the token file, from 1.
    public let line: Int

    init(token: [UInt8], patterns: [SnapshotNamePattern], line: Int) {
        self.token = token
        self.patterns = patterns.isEmpty ? [.all] : patterns
        self.line = line
    }

    /// The `Authorization` value a client presents the token with (`snapshotd forward`). Never
    /// in a description: print `description` instead.
    public var authorizationValue: String { "Bearer " + String(decoding: token, as: UTF8.self) }

    /// Whether the token may use the snapshot `name`.
    public func covers(_ name: SnapshotName) -> Bool {
        patterns.contains { $0.matches(name) }
    }

    public var description: String {
        "line \(line): " + patterns.map(\.description).joined(separator: " ")
    }

    public var debugDescription: String { description }
}
