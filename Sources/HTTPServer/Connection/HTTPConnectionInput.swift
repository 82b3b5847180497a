/// What happens to a connection, as `HTTPConnectionState` is told it.
///
/// Some inputs start a turn (the socket became readable or writable, the timer fired, a
/// response arrived, a stop was requested); the others report the outcome of the action the
/// state just asked for (`.read` → `bytesRead`/`readWouldBlock`/`peerClosed`/`readFailed`;
/// `.write` → `wrote`/`writeFailed`; `.checkAcknowledged` → `unacknowledgedBytes`).
enum HTTPConnectionInput {
    /// The connection was accepted and its sources are set up.
    case start
    /// The socket has input (or EOF) to read.
    case readable
    /// Bytes read from the socket (valid only during the call); `filledBuffer` when the read
    /// took as much as the buffer holds, so more may be waiting.
    case bytesRead(UnsafeRawBufferPointer, filledBuffer: Bool)
    /// The read would block.
    case readWouldBlock
    /// The peer closed its side (a read returned 0).
    case peerClosed
    /// A read failed (other than EINTR/EAGAIN).
    case readFailed
    /// The socket can take output again.
    case writable
    /// A write sent this many bytes of `unsentOutput` and then finished or would block.
    case wrote(Int)
    /// A write failed.
    case writeFailed
    /// A handler answered the request of this slot (during its call or later).
    case responseReady(HTTPResponse, slot: UInt64)
    /// The timer fired.
    case timerFired
    /// Bytes sent and not acknowledged by the peer (SIOCOUTQ), or -1 when unknown.
    case unacknowledgedBytes(Int32)
    /// Graceful stop: serve what was started, then close.
    case stopRequested
    /// Continue a turn that yielded to the other connections of the queue.
    case resume
}
