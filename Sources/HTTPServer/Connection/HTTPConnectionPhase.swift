/// What a connection is waiting for, with the deadline that bounds the wait; derived from
/// `HTTPConnectionState` after every turn, it chooses the timer and what its firing means.
enum HTTPConnectionPhase: Equatable {
    /// Between requests (or before the first): at the deadline the connection closes quietly.
    case idle(deadline: UInt64)
    /// Part of a request head arrived: at the deadline the connection answers 408.
    case readingHead(deadline: UInt64)
    /// A request body is arriving: a stall until the deadline is answered 408.
    case readingBody(deadline: UInt64)
    /// Every request received waits for its handler: no deadline.
    case waitingOnHandlers
    /// Output waits for the client to read it: a stall until the deadline closes.
    case writing(deadline: UInt64)
    /// The last response is out, the write side shut: reading and discarding until EOF or the
    /// deadline. While stopping (`polling`) the deadline is the next check whether the peer
    /// acknowledged everything, which closes early.
    case lingering(deadline: UInt64, polling: Bool)
    case closed

    var deadline: UInt64? {
        switch self {
        case .idle(let at), .readingHead(let at), .readingBody(let at), .writing(let at), .lingering(let at, _):
            return at
        case .waitingOnHandlers, .closed:
            return nil
        }
    }
}
