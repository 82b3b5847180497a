// Byte-level helpers for ASCII protocol text, free of Foundation and allocation.

extension String {
    /// ASCII case-insensitive comparison without allocating.
    internal func asciiCaseInsensitiveEquals(_ other: String) -> Bool {
        self.utf8.asciiCaseInsensitiveEquals(other.utf8)
    }
}

extension Collection where Element == UInt8 {
    internal func asciiCaseInsensitiveEquals<Other: Collection>(_ other: Other) -> Bool where Other.Element == UInt8 {
        guard self.count == other.count else { return false }
        var index = self.startIndex
        var otherIndex = other.startIndex
        while index != self.endIndex {
            let a = self[index]
            let b = other[otherIndex]
            if a != b {
                let lowerA = (a >= 0x41 && a <= 0x5A) ? a | 0x20 : a
                let lowerB = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                if lowerA != lowerB { return false }
            }
            self.formIndex(after: &index)
            other.formIndex(after: &otherIndex)
        }
        return true
    }
}

/// The slice without leading and trailing optional whitespace (SP / HTAB).
internal func trimmedOWS<C: BidirectionalCollection>(_ bytes: C) -> C.SubSequence where C.Element == UInt8 {
    var start = bytes.startIndex
    var end = bytes.endIndex
    while start != end, bytes[start] == 0x20 || bytes[start] == 0x09 {
        bytes.formIndex(after: &start)
    }
    while end != start {
        let before = bytes.index(before: end)
        guard bytes[before] == 0x20 || bytes[before] == 0x09 else { break }
        end = before
    }
    return bytes[start..<end]
}
