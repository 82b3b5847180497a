import SnapshotCore

/// Why a token file cannot be used, and on which line (from 1).
public struct TokenGrantsError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// Every line is blank or a `#` comment.
        case noToken
        /// The line is not UTF-8.
        case notUTF8
        /// The token holds a control character (this code point) or U+FFFD: no header could carry it.
        case unsendableToken(UInt32)
        /// The token is already on an earlier line.
        case duplicate(ofLine: Int)
        /// A pattern is not a name, a prefix ending in `*`, or `*`.
        case badPattern(SnapshotNamePatternError)
    }

    /// nil for `noToken`.
    public var line: Int?
    public var reason: Reason

    public var description: String {
        let message: String = switch reason {
        case .noToken: "no token: every line is blank or a # comment"
        case .notUTF8: "not UTF-8 text"
        case .unsendableToken(let value):
            "the token holds U+\(String(value, radix: 16, uppercase: true)), which no Authorization header can carry"
        case .duplicate(let earlier): "the same token as line \(earlier)"
        case .badPattern(let error): "\(error)"
        }
        return line.map { "line \($0): \(message)" } ?? message
    }
}
