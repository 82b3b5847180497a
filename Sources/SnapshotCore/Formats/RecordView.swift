/// One decoded record whose name and address are borrowed from the bytes being decoded: valid
/// only during the visit that delivers it. Replay applies it without creating Strings;
/// `record` makes the owned `SnapshotRecord` where one is kept: the record-by-record decoder
/// API (`ReplayItem`), and replay for the records it does not keep in its alive table (clocks,
/// leave, names that are not ASCII).
struct RecordView {
    /// The kinds in the order of `SnapshotRecord.kinds` (`rawValue` is the position there).
    enum Kind: Int {
        case alive, notAlive, clock, eventClock, queryClock, leave
    }

    var kind: Kind
    /// The node name (alive, not-alive), else empty.
    var name = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The address (alive), else empty.
    var address = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The clock value (clock, event-clock, query-clock), else 0.
    var value: UInt64 = 0

    static func alive(name: UnsafeRawBufferPointer, address: UnsafeRawBufferPointer) -> RecordView {
        RecordView(kind: .alive, name: name, address: address)
    }

    static func notAlive(name: UnsafeRawBufferPointer) -> RecordView {
        RecordView(kind: .notAlive, name: name)
    }

    static func clock(_ kind: Kind, _ value: UInt64) -> RecordView {
        RecordView(kind: kind, value: value)
    }

    static var leave: RecordView { RecordView(kind: .leave) }

    /// The owned record, with its Strings.
    var record: SnapshotRecord {
        switch kind {
        case .alive: .alive(name: String(decoding: name, as: UTF8.self), address: String(decoding: address, as: UTF8.self))
        case .notAlive: .notAlive(name: String(decoding: name, as: UTF8.self))
        case .clock: .clock(value)
        case .eventClock: .eventClock(value)
        case .queryClock: .queryClock(value)
        case .leave: .leave
        }
    }
}
