import SnapshotCore

/// The bearer tokens snapshotd accepts and the snapshot names each may use: the token file,
/// parsed. A value: parsed from bytes, matched against an `Authorization` value, no I/O.
///
/// The file is lines. A blank line, or one whose first non-blank character is `#`, is skipped;
/// any other line is a token, then optionally blank-separated patterns of the names it may use:
/// exact names (`default`), prefixes ending in `*` (`agent-*`), or `*` for every name. A token
/// alone grants every name, so a file of one token (today's format, blanks around it ignored)
/// keeps its meaning. Several lines are several tokens.
public struct TokenGrants: Sendable {
    /// What a request's credentials allow for the snapshot a route acts on.
    public enum Authorization: Equatable, Sendable {
        case granted
        /// No bearer credential, or not one of the tokens: 401.
        case unknownToken
        /// A known token (the grant on `line`) that does not cover the snapshot: 403.
        case notGranted(line: Int)
    }

    /// In file order, never empty, no token twice.
    public let grants: [TokenGrant]

    /// Parses a token file's bytes.
    public init(parsing bytes: some Collection<UInt8>) throws(TokenGrantsError) {
        var grants: [TokenGrant] = []
        var number = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            guard let text = String(validating: line, as: UTF8.self) else {
                throw TokenGrantsError(line: number, reason: .notUTF8)
            }
            let words = text.unicodeScalars.split(whereSeparator: \.properties.isWhitespace)
            guard let first = words.first, first.first != "#" else { continue }
            let token = Array(String(Substring(first)).utf8)
            if let bad = first.first(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FFFD}" }) {
                throw TokenGrantsError(line: number, reason: .unsendableToken(bad.value))
            }
            if let earlier = grants.first(where: { $0.token == token }) {
                throw TokenGrantsError(line: number, reason: .duplicate(ofLine: earlier.line))
            }
            var patterns: [SnapshotNamePattern] = []
            for word in words.dropFirst() {
                do throws(SnapshotNamePatternError) {
                    patterns.append(try SnapshotNamePattern(String(Substring(word))))
                } catch {
                    throw TokenGrantsError(line: number, reason: .badPattern(error))
                }
            }
            grants.append(TokenGrant(token: token, patterns: patterns, line: number))
        }
        guard !grants.isEmpty else { throw TokenGrantsError(line: nil, reason: .noToken) }
        self.grants = grants
    }

    /// Parses a token file's text.
    public init(parsing text: String) throws(TokenGrantsError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// What an `Authorization` header value (nil when absent) allows for `snapshot`; nil for a
    /// route that acts on no snapshot (`/metrics`), where any known token is enough.
    public func authorize(_ authorization: String?, snapshot: SnapshotName?) -> Authorization {
        guard let index = grantIndex(authorization) else { return .unknownToken }
        let grant = grants[index]
        guard let snapshot, !grant.covers(snapshot) else { return .granted }
        return .notGranted(line: grant.line)
    }

    /// The index of the grant whose token is the credential of `authorization`. The credential
    /// is compared with every token, each in full, and the match is selected with masks, not
    /// branches: the time depends on the tokens' lengths, not on which token (if any) matches
    /// or on how many bytes of one do.
    func grantIndex(_ authorization: String?) -> Int? {
        guard var authorization else { return nil }
        return authorization.withUTF8 { value -> Int? in
            guard let credential = BearerCredential.credential(in: value) else { return nil }
            var found = -1
            for (index, grant) in grants.enumerated() {
                let difference = grant.token.withUnsafeBufferPointer { Self.constantTimeDifference(credential, $0) }
                let mask = (Int(difference) &- 1) >> 8  // all ones when difference is 0, else 0
                found = (found & ~mask) | (index & mask)
            }
            return found < 0 ? nil : found
        }
    }

    /// 0 when `a` and `b` are the same bytes, else not 0; without an early exit, so that the
    /// time taken (a pass over `b`) does not tell how much of `a` matched.
    @inline(never)
    static func constantTimeDifference(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> UInt8 {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<b.count {
            difference |= (i < a.count ? a[i] : 0) ^ b[i]
        }
        return difference
    }
}
