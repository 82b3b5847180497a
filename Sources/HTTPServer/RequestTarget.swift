/// Request-target helpers (RFC 9112 §3.2): form checks, path / query split, query decoding.
enum RequestTarget {
    /// Splits a target into its path and raw query (without '?'), accepting origin-form,
    /// absolute-form and asterisk-form. Anything else yields the text before '?' as path.
    static func split(_ target: String) -> (path: String, query: Substring?) {
        var rest = Substring(target)
        if target.utf8.first != UInt8(ascii: "/"), let authorityEnd = absoluteFormAuthorityEnd(target.utf8) {
            rest = Substring(target.utf8[authorityEnd...])
        }
        if rest.endIndex == target.endIndex, rest.startIndex == target.startIndex,
           !target.utf8.contains(UInt8(ascii: "?")) {
            return (target.isEmpty ? "/" : target, nil)
        }
        let pathPart: Substring
        let queryPart: Substring?
        if let question = rest.utf8.firstIndex(of: UInt8(ascii: "?")) {
            pathPart = Substring(rest.utf8[rest.utf8.startIndex..<question])
            queryPart = Substring(rest.utf8[rest.utf8.index(after: question)...])
        } else {
            pathPart = rest
            queryPart = nil
        }
        let path = pathPart.isEmpty ? "/" : String(pathPart)
        return (path, queryPart)
    }

    /// Whether the target is acceptable for the method: origin-form ("/..."),
    /// absolute-form ("http://authority/...") or "*" for OPTIONS only.
    static func isValid(_ target: String, method: String) -> Bool {
        let utf8 = target.utf8
        guard let first = utf8.first else { return false }
        if first == UInt8(ascii: "/") { return true }
        if utf8.count == 1 && first == UInt8(ascii: "*") { return method == "OPTIONS" }
        return absoluteFormAuthorityEnd(utf8) != nil
    }

    /// For "http://authority[/path][?query]" (or https, scheme case-insensitive) with a
    /// non-empty authority, the index where the authority ends; nil otherwise.
    static func absoluteFormAuthorityEnd(_ utf8: String.UTF8View) -> String.UTF8View.Index? {
        for scheme in ["http://", "https://"] as [StaticString] {
            let scheme = UnsafeBufferPointer(start: scheme.utf8Start, count: scheme.utf8CodeUnitCount)
            guard utf8.count > scheme.count,
                  utf8.prefix(scheme.count).asciiCaseInsensitiveEquals(scheme)
            else { continue }
            let authorityStart = utf8.index(utf8.startIndex, offsetBy: scheme.count)
            var index = authorityStart
            while index != utf8.endIndex, utf8[index] != UInt8(ascii: "/"), utf8[index] != UInt8(ascii: "?") {
                utf8.formIndex(after: &index)
            }
            return index == authorityStart ? nil : index
        }
        return nil
    }

    /// Decodes "a=1&b=x%20y&c" into ["a": "1", "b": "x y", "c": ""]; the last value wins.
    static func decodeQuery(_ query: Substring) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                let name = percentDecode(pair[pair.startIndex..<equals])
                let value = percentDecode(pair[pair.index(after: equals)...])
                result[name] = value
            } else {
                result[percentDecode(pair)] = ""
            }
        }
        return result
    }

    /// Percent-decodes (and maps '+' to a space); malformed escapes are kept literally.
    static func percentDecode(_ bytes: Substring.UTF8View.SubSequence) -> String {
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return String(Substring(bytes))
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%"),
                      let first = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex), first != bytes.endIndex,
                      let second = bytes.index(first, offsetBy: 1, limitedBy: bytes.endIndex), second != bytes.endIndex,
                      let high = hexValue(bytes[first]), let low = hexValue(bytes[second]) {
                out.append(high << 4 | low)
                index = second
            } else {
                out.append(byte)
            }
            bytes.formIndex(after: &index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
