/// Header names and values that requests carry all the time and that are too long for a
/// small string (over 15 UTF-8 bytes, which Swift keeps inline): made into a `String` once,
/// and shared by every request that carries them, instead of allocated per request.
enum CommonFieldText {
    private static let texts: [String] = [
        "application/json", "application/x-ndjson", "application/ndjson",
        "Transfer-Encoding", "transfer-encoding", "Content-Encoding", "content-encoding",
        "Go-http-client/1.1",
    ]
    private static let utf8: [[UInt8]] = texts.map { Array($0.utf8) }

    /// The text of `bytes`, shared when it is one of the common ones.
    static func string(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        if bytes.count > 15 {
            for (index, candidate) in utf8.enumerated() where candidate.count == bytes.count {
                if candidate.elementsEqual(bytes) { return texts[index] }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
