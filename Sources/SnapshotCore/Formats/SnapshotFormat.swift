/// The on-disk formats snapshotd reads and writes.
public enum SnapshotFormat: String, Sendable, CaseIterable, Codable {
    /// Go serf's text format.
    case v1
    /// snapshotd's checksummed binary format (docs/FORMAT.md).
    case v2

    /// The format of a file from its first bytes; nil for an empty file. A file that starts
    /// with bytes within three bit flips of the v2 magic is v2 with a damaged header: v1 text
    /// never starts with a byte of 0x80 or more.
    public static func detect(_ prefix: some Collection<UInt8>) -> SnapshotFormat? {
        guard let first = prefix.first else { return nil }
        let head = Array(prefix.prefix(V2Format.magic.count))
        var flips = (V2Format.magic.count - head.count) * 8
        for (a, b) in zip(head, V2Format.magic) { flips += (a ^ b).nonzeroBitCount }
        return flips <= 3 || first >= 0x80 ? .v2 : .v1
    }

    var encoder: any SnapshotEncoder.Type {
        switch self {
        case .v1: V1Format.self
        case .v2: V2Format.self
        }
    }
}
