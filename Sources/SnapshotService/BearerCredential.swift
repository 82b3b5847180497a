/// The credential of an `Authorization: Bearer <token>` value: the scheme in any case (RFC 9110
/// §11.1: auth schemes are case-insensitive), one or more spaces, then the rest of the value,
/// which is compared exactly.
enum BearerCredential {
    /// The bytes of the credential in `value`, or nil when it is not a bearer credential.
    static func credential(in value: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        let scheme = 6  // "bearer"
        guard value.count > scheme + 1, value[scheme] == UInt8(ascii: " "),
              ASCII.equalsLowercased(UnsafeBufferPointer(rebasing: value[0..<scheme]), "bearer")
        else { return nil }
        var start = scheme + 1
        while start < value.count, value[start] == UInt8(ascii: " ") { start += 1 }
        return UnsafeBufferPointer(rebasing: value[start...])
    }
}
