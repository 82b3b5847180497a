import Foundation
import SnapshotCore
import Testing

@testable import SnapshotService

/// Pooled decoders are reused across requests: a reused one must decode as a fresh one does,
/// whatever the body before it was (bad, large, another format), and from several threads.
@Suite struct EventDecoderPoolTests {
    private static let bodies: [(String, EventDecoder.Format)] = [
        (#"{"type":"member-join","members":[{"name":"a","addr":"10.0.0.1","port":7946}],"ltime":1}"#, .single),
        (#"{"type":"user","ltime":4,"name":"deploy","payload":"aGk=","coalesce":true}"#, .single),
        ("{\"type\":\"query\",\"ltime\":5,\"name\":\"q\"}\n\n{\"type\":\"clock\",\"ltime\":9}\n", .ndjson),
        (#"[{"type":"clock","ltime":1},{"type":"member-failed","members":[{"name":"b","addr":"::1","port":1}]}]"#, .single),
        (#"{"type":"member-join","members":[]}"#, .single),  // refused: members must not be empty
        (#"{"type":"clock","ltme":3}"#, .single),            // refused: unknown field
        ("{\"type\":", .single),                              // refused: not JSON
    ]

    /// Over 1 MiB: the decoder's buffers grow past what it keeps, then are trimmed.
    private static let large: (String, EventDecoder.Format) = {
        let line = #"{"type":"member-join","members":[{"name":"node-with-a-long-name","addr":"10.1.2.3","port":7946}],"ltime":7}"#
        return (String(repeating: line + "\n", count: 12_000), .ndjson)
    }()

    private static func fresh(_ body: String, _ format: EventDecoder.Format) -> Result<[SnapshotEvent], EventDecodingError> {
        Result { () throws(EventDecodingError) in try EventDecoder().decode(Array(body.utf8), format: format) }
    }

    private static func pooled(_ pool: EventDecoderPool, _ body: String, _ format: EventDecoder.Format)
        -> Result<[SnapshotEvent], EventDecodingError> {
        Result { () throws(EventDecodingError) in try pool.decode(Array(body.utf8), format: format) }
    }

    private static func same(_ a: Result<[SnapshotEvent], EventDecodingError>,
                             _ b: Result<[SnapshotEvent], EventDecodingError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): x == y
        case (.failure(let x), .failure(let y)): x.eventIndex == y.eventIndex && x.reason == y.reason
        default: false
        }
    }

    @Test func aReusedDecoderDecodesAsAFreshOne() {
        let pool = EventDecoderPool(capacity: 1)  // one decoder, reused for every body
        let all = Self.bodies + [Self.large] + Self.bodies.reversed()
        for round in 0..<3 {
            for (body, format) in all {
                #expect(Self.same(Self.pooled(pool, body, format), Self.fresh(body, format)), "round \(round): \(body.prefix(60))")
            }
        }
    }

    @Test func decodersAreSharedBetweenThreads() async {
        let pool = EventDecoderPool(capacity: 2)
        let expected = Self.bodies.map { Self.fresh($0.0, $0.1) }
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for i in 0..<300 {
                        let k = (i + worker) % Self.bodies.count
                        if !Self.same(Self.pooled(pool, Self.bodies[k].0, Self.bodies[k].1), expected[k]) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
