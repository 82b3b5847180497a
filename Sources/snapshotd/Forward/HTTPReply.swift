/// What one HTTP exchange of `snapshotd forward` got back: the final status, the headers it
/// acts on, and the start of the body (for messages).
struct HTTPReply: Equatable {
    var status: Int
    /// `Retry-After` in seconds (the delay form; an HTTP date is ignored), when present.
    var retryAfter: Double?
    /// At most `MinimalHTTPClient.maxBodyBytes` of the body.
    var body: [UInt8]

    var isSuccess: Bool { (200...299).contains(status) }

    /// The body as one line for a message: the `error` of a JSON error body when there is one,
    /// else the text, shortened.
    var summary: String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        var line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        if line.count > 200 { line = String(line.prefix(200)) + "…" }
        return line
    }
}
