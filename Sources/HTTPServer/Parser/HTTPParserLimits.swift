/// Size limits enforced by `HTTPRequestParser`.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Largest request line plus header section (including the empty line ending it); more → 431.
    /// Also bounds the trailer section of a chunked body.
    public var maxHeaderBytes: Int
    /// Largest request body, by Content-Length or summed chunks; more → 413.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 4 * 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }
}
