/// Byte classes of RFC 9110 / RFC 9112 grammar, as a 256-entry lookup table.
enum HTTPCharacterClass {
    /// tchar: the characters of a token (method, field name).
    static let token: UInt8 = 1
    /// A byte allowed inside a field value: VCHAR, SP, HTAB or obs-text.
    static let fieldValue: UInt8 = 2
    /// A byte allowed in a request-target: VCHAR (0x21...0x7E).
    static let target: UInt8 = 4

    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in 0..<256 {
            var flags: UInt8 = 0
            let isAlphaNumeric = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            if isAlphaNumeric || Array("!#$%&'*+-.^_`|~".utf8).contains(UInt8(byte)) {
                flags |= token
            }
            if (0x21...0x7E).contains(byte) {
                flags |= target | fieldValue
            }
            if byte == 0x20 || byte == 0x09 || byte >= 0x80 {
                flags |= fieldValue
            }
            table[byte] = flags
        }
        return table
    }()
}
