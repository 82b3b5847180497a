import Foundation
import SnapshotCore

/// The JSON bodies the API answers with (see openapi.yaml). Encoded with Foundation's
/// Codable: none of them is on the event ingest path, whose acknowledgement is formatted
/// directly (`acknowledgement(_:)`).
enum ResponseBodies {
    struct Node: Encodable {
        var name: String
        var addr: String
    }

    struct Snapshot: Encodable {
        var alive_nodes: [Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
        var leaving: Bool
    }

    struct Compaction: Encodable {
        var bytes_before: Int64
        var bytes_after: Int64
        var duration_seconds: Double
    }

    struct Leave: Encodable {
        var leaving: Bool
        var durable: Bool
    }

    struct SnapshotEntry: Encodable {
        var name: String
        var alive: Int
        var leaving: Bool
        var format: String
        var rejoin_after_leave: Bool
    }

    struct SnapshotList: Encodable {
        var snapshots: [SnapshotEntry]
        /// The `after` of the next page; nil on the last, written as `null` (the synthesized
        /// encoding would leave the key out).
        var next: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(snapshots, forKey: .snapshots)
            try container.encode(next, forKey: .next)
        }

        private enum CodingKeys: String, CodingKey { case snapshots, next }
    }

    struct Stats: Encodable {
        var name: String
        var format: String
        var rejoin_after_leave: Bool
        var alive: Int
        var leaving: Bool
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
        var file_bytes: Int64
        var checkpoint_position: UInt64
        var log_position: UInt64
        var checkpoints: Int
        var checkpointing: Bool
    }

    struct Imported: Encodable {
        var format: String
        var records: Int
        var alive: Int
        var damaged_regions: Int
        var torn_tail_bytes: Int64
        var replaced: Bool
    }

    struct Status: Encodable {
        var status: String
        var error: String?
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// `{"accepted":N,"durable":B}`: formatted by hand, once per ingest request.
    static func acknowledgement(_ ack: Acknowledgement) -> [UInt8] {
        if ack.accepted >= 0 && ack.accepted < commonAcknowledgements {
            return (ack.durable ? durableAcknowledgements : bufferedAcknowledgements)[ack.accepted]
        }
        return formatAcknowledgement(accepted: ack.accepted, durable: ack.durable)
    }

    /// Bodies for the counts most requests acknowledge, made once and shared (no allocation
    /// per request).
    private static let commonAcknowledgements = 64
    private static let durableAcknowledgements = (0..<commonAcknowledgements).map {
        formatAcknowledgement(accepted: $0, durable: true)
    }
    private static let bufferedAcknowledgements = (0..<commonAcknowledgements).map {
        formatAcknowledgement(accepted: $0, durable: false)
    }

    private static func formatAcknowledgement(accepted: Int, durable: Bool) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(48)
        body.append(contentsOf: #"{"accepted":"#.utf8)
        body.append(contentsOf: String(accepted).utf8)  // a small String: no allocation
        body.append(contentsOf: (durable ? #","durable":true}"# : #","durable":false}"#).utf8)
        return body
    }
}
