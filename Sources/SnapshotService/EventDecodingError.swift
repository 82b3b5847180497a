/// Why a request body of events was refused. Decoding is all-or-nothing, so this names the first
/// bad event, by its zero-based position in the body, whenever the fault is one event's.
public struct EventDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The zero-based index of the first bad event, or nil when the body as a whole is at fault
    /// (no events, malformed framing around the events, memory exhausted).
    public let eventIndex: Int?
    /// What is wrong, without the event prefix: `unknown type "member-jion"`.
    public let reason: String

    public init(eventIndex: Int?, reason: String) {
        self.eventIndex = eventIndex
        self.reason = reason
    }

    /// `event 3: unknown type "member-jion"`, or the reason alone: `no events`.
    public var description: String {
        guard let eventIndex else { return reason }
        return "event \(eventIndex): \(reason)"
    }
}
