import CCRC32C

/// CRC-32C (Castagnoli), computed with the CPU's CRC32 instruction (the CCRC32C target).
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return ccrc32c_extend(crc, base, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Whether the hardware instruction is in use (else a portable bitwise loop).
    public static var usesHardware: Bool { ccrc32c_hardware() != 0 }
}
