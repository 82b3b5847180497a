/// What `HTTPRequestParser.next()` produced.
public enum HTTPParseEvent: Sendable {
    /// A complete request, body included.
    case request(HTTPRequest)
    /// The head of a request carrying `Expect: 100-continue` is complete, its declared body is
    /// within limits and still to be read: the server should send `100 Continue` now.
    /// Emitted once per such request, before its `.request` event.
    case expectContinue
    /// The input is not a valid request; the parser is failed from now on.
    case error(HTTPParseError)
}
