@testable import SnapshotCore
import TestSupport
import Testing

/// `V1Format.lastNonTextByte` reads eight bytes at a time: it finds what a byte-by-byte scan finds,
/// for every byte value at every position of short and long lines.
@Suite struct V1TextScanTests {
    static func byteByByte(_ bytes: [UInt8]) -> Int? {
        bytes.indices.reversed().first { (bytes[$0] < 0x20 && bytes[$0] != 0x09) || bytes[$0] == 0x7F }
    }

    @Test func findsWhatAByteScanFinds() {
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 31] {
            for position in 0..<max(1, length) where length > 0 {
                for value in 0...255 {
                    var line = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    line[position] = UInt8(value)
                    // Text around it, tabs and UTF-8 included.
                    if length > 2 { line[(position + 1) % length] = position % 2 == 0 ? 0x09 : 0xC3 }
                    let found = line.withUnsafeBytes { V1Format.lastNonTextByte($0) }
                    #expect(found == Self.byteByByte(line), "length \(length), byte \(value) at \(position)")
                }
            }
        }
        var generator = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let line = (0..<Int(generator.next() % 40)).map { _ in UInt8(truncatingIfNeeded: generator.next() % 3 == 0 ? generator.next() : 0x61) }
            #expect(line.withUnsafeBytes { V1Format.lastNonTextByte($0) } == Self.byteByByte(line))
        }
    }
}
