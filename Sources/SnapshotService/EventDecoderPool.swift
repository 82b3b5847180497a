import SnapshotCore
import Synchronization

/// Event decoders kept for reuse between requests. A decoder's simdjson parser and tape are
/// allocated on its first body and kept (up to 1 MiB, `EventDecoder`), so a request that takes
/// one from here makes no allocation to parse; a decoder made per request cost nine (measured
/// with heaptrack on one-event POSTs).
///
/// A decoder is taken for one `decode` by one thread and given back; the pool keeps at most
/// `capacity` (as many as decode at once: handlers run on the server's few connection queues),
/// and makes a new one when none is free.
final class EventDecoderPool: Sendable {
    /// A decoder is not `Sendable`: it moves between threads only through the pool's lock,
    /// and only one thread holds it at a time.
    private struct Pooled: @unchecked Sendable {
        let decoder: EventDecoder
    }

    private let free: Mutex<[Pooled]>
    private let capacity: Int

    init(capacity: Int = 16) {
        self.capacity = capacity
        var free: [Pooled] = []
        free.reserveCapacity(capacity)
        self.free = Mutex(free)
    }

    /// Decodes a whole body with a pooled decoder (`EventDecoder.decode`).
    func decode(_ body: [UInt8], format: EventDecoder.Format) throws(EventDecodingError) -> [SnapshotEvent] {
        let pooled = free.withLock { $0.popLast() } ?? Pooled(decoder: EventDecoder())
        defer {
            free.withLock { free in
                if free.count < capacity { free.append(pooled) }
            }
        }
        return try pooled.decoder.decode(body, format: format)
    }
}
