/// What `HTTPConnectionState` asks its shell to do, one at a time (`nextAction()`).
enum HTTPConnectionAction {
    /// Read once into the read buffer and report it (`bytesRead`, `readWouldBlock`,
    /// `peerClosed`, `readFailed`).
    case read
    /// Lingering: read and discard what is available (a bounded number of reads); report
    /// EOF as `peerClosed` and errors as `readFailed`.
    case drain
    /// Call the handler with this request and a responder for this slot.
    case handle(HTTPRequest, slot: UInt64)
    /// Send `unsentOutput` until it is all sent or the socket would block; report `wrote`
    /// (or `writeFailed`).
    case write
    /// Watch the socket for input, or stop watching it (the connection's pool).
    case setReadInterest(Bool)
    /// Watch the socket for room to write, or stop watching it.
    case setWriteInterest(Bool)
    /// Schedule the timer at this uptime (nanoseconds); it replaces the previous schedule.
    case armTimer(at: UInt64)
    /// Let the other connections of the queue run, then send `resume`.
    case yield
    /// Shut down the write side (the last response is out): lingering begins.
    case shutdownWrite
    /// Report the bytes not acknowledged yet (`unacknowledgedBytes`).
    case checkAcknowledged
    /// Stop watching the socket, cancel the timer and close the descriptor. The last action.
    case close
}
