/// A connection's responses in request order: each request (and each interim `100 Continue`)
/// gets a slot; a handler may fill its slot at any time, and slots leave only from the front,
/// so responses are written in request order.
struct HTTPResponseQueue {
    /// What a request needs to have its response encoded and reported.
    struct Request {
        var method: String
        var path: String
        var versionMinor: Int
        var receivedAt: UInt64
        /// The response must announce `Connection: close`.
        var close: Bool

        /// A request the server answers itself (errors, refusals): no method or path known.
        static func server(receivedAt: UInt64) -> Request {
            Request(method: "", path: "", versionMinor: 1, receivedAt: receivedAt, close: true)
        }
    }

    /// The front slot, once it can be sent.
    enum Ready {
        case interimContinue
        case response(HTTPResponse, for: Request)
    }

    private struct Slot {
        enum Content {
            case interimContinue
            case awaiting
            case response(HTTPResponse)
            /// Sent; kept until the queue empties, without its response body.
            case taken
        }

        var id: UInt64
        var content: Content
        var request: Request
    }

    private var slots: [Slot] = []
    private var head = 0
    private var nextID: UInt64 = 0
    /// Final responses (filled or not) queued and not taken yet.
    private(set) var pendingResponses = 0

    /// Whether every slot was taken.
    var isEmpty: Bool { head == slots.count }

    mutating func appendContinue(receivedAt: UInt64) {
        append(.interimContinue, for: Request(method: "", path: "", versionMinor: 1, receivedAt: receivedAt, close: false))
    }

    /// A slot whose response a handler will give; returns its id for `fill`.
    mutating func appendAwaiting(for request: Request) -> UInt64 {
        append(.awaiting, for: request)
    }

    /// A slot with the server's own response.
    mutating func append(_ response: HTTPResponse, for request: Request) {
        append(.response(response), for: request)
    }

    @discardableResult
    private mutating func append(_ content: Slot.Content, for request: Request) -> UInt64 {
        let id = nextID
        nextID += 1
        if case .interimContinue = content {} else { pendingResponses += 1 }
        slots.append(Slot(id: id, content: content, request: request))
        return id
    }

    /// Fills an awaiting slot; a slot already filled, taken or dropped is left alone.
    mutating func fill(_ slot: UInt64, with response: HTTPResponse) {
        guard head < slots.count, slot >= slots[head].id else { return }
        let index = head + Int(slot - slots[head].id)
        guard index < slots.count, case .awaiting = slots[index].content else { return }
        slots[index].content = .response(response)
    }

    /// Takes the front slot if it is ready; nil when the queue is empty or its front awaits a handler.
    mutating func takeReady() -> Ready? {
        guard head < slots.count else {
            slots.removeAll(keepingCapacity: slots.capacity <= 64)
            head = 0
            return nil
        }
        let slot = slots[head]
        let ready: Ready
        switch slot.content {
        case .awaiting, .taken:
            return nil
        case .interimContinue:
            ready = .interimContinue
        case .response(let response):
            pendingResponses -= 1
            ready = .response(response, for: slot.request)
        }
        slots[head].content = .taken

        head += 1
        return ready
    }

    /// Drops every slot (nothing is sent after a closing response, or on close).
    mutating func removeAll() {
        slots.removeAll()
        head = 0
        pendingResponses = 0
    }
}
