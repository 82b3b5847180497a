/// Settings of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
    /// Address to listen on: an IPv4 or IPv6 literal ("127.0.0.1", "::", "[::1]") or a host name.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks any free port (`start()` returns the real one).
    public var port: UInt16 = 8080
    /// Largest request line plus header section; a bigger head is answered 431.
    public var maxHeaderBytes = 16 * 1024
    /// Largest request body; a bigger one is answered 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// Seconds to receive a full request head: 408 if a request was started, else a plain close.
    /// On a new connection the clock starts at accept, later on at the head's first byte.
    public var headerTimeout: Double = 10
    /// Seconds a keep-alive connection may stay idle before it is closed. Also bounds stalls
    /// while reading a body (→ 408) or while the client does not read a response (→ close).
    public var idleTimeout: Double = 60
    /// Connections served at once; above it a connection is answered 503 and closed.
    public var maxConnections = 1024
    /// Connections being answered 503 (above `maxConnections`) at once. Beyond it new connections
    /// wait in the listen backlog until one of these closes, so that refusing a flood cannot use
    /// up the process's descriptors (each refusal holds one for up to its linger time).
    public var maxRejectedConnections = 32
    /// Requests of one connection awaiting responses before the server stops reading from it.
    public var maxPipelinedRequests = 32
    /// Connection pools, each a thread that waits on its share of the connections and serves
    /// them (`ConnectionPool`); nil: one per CPU. Fewer can serve a closed-loop flood better
    /// and many clients worse, so the default is one per CPU. Measured on 2 CPUs with the
    /// clients on the same machine: wrk -c8 buffered one-event POSTs, one pool 67-79k
    /// requests/s, p99 0.37-0.42 ms, two pools 61-63k, p99 2.0-3.7 ms (three busy threads on
    /// two CPUs wait out each other's time slices); 20,000 durable POSTs/s from 32 client
    /// threads, one pool p99 3.6-20 ms, two pools 1.9-3.0 ms (one thread gets too small a share
    /// of the CPUs among 32).
    public var connectionPools: Int? = nil
    /// listen(2) backlog.
    public var backlog: Int32 = 1024
    /// The bodies of the errors the server answers itself (plain text unless replaced).
    public var errorFormat: HTTPErrorFormat = .plainText

    public init() {}

    var parserLimits: HTTPParserLimits {
        HTTPParserLimits(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
    }
}
