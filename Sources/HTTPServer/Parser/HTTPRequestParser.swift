/// An incremental HTTP/1.x request parser (RFC 9112), as a value-type state machine with no I/O.
///
/// Feed bytes with `append`, then call `next()` until it returns nil (more bytes needed).
/// Requests are framed by Content-Length or chunked Transfer-Encoding; pipelined requests are
/// returned one after another. The parser is strict: it rejects bare LF, bare CR, obs-fold,
/// whitespace before a colon, ambiguous framing and the like with a 4xx/5xx `HTTPParseError`.
/// After an error it is failed for good: the error is returned once, then `next()` returns nil
/// and `append` ignores its input.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPParserLimits

    private enum State: Sendable, Equatable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed
    }

    /// Longest chunk-size line (size, extensions, CRLF) accepted.
    static let maxChunkLineBytes = 4096

    private var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not consumed yet.
    private var start = 0
    private var state: State = .head
    private var scanner = RequestHeadScanner()
    /// Head of the request whose body is being read.
    private var pendingRequest: HTTPRequest?
    private var pendingBody: [UInt8] = []
    private var trailerBytes = 0

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Whether an error was returned; the parser then accepts nothing more.
    public var isFailed: Bool { state == .failed }

    /// Bytes received and not consumed yet.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether part of a request (head or body) has been received but not returned yet.
    public var hasPartialRequest: Bool {
        switch state {
        case .head: return buffer.count > start
        case .failed: return false
        default: return true
        }
    }

    /// Whether the head of the next request has started arriving but is not complete.
    public var isReceivingHead: Bool { state == .head && buffer.count > start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard state != .failed, let base = bytes.baseAddress, bytes.count > 0 else { return }
        compact()
        buffer.append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count))
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Drops consumed bytes when that costs no more than what was consumed.
    private mutating func compact() {
        if start == 0 { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start >= buffer.count - start {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    /// What one step of `next()` came to.
    private enum Step {
        /// The state changed: step again.
        case proceed
        /// More bytes are needed.
        case needMore
        case event(HTTPParseEvent)
    }

    /// The next event, or nil when more bytes are needed (or the parser has failed).
    public mutating func next() -> HTTPParseEvent? {
        while true {
            let step: Step
            switch state {
            case .failed: return nil
            case .head: step = parseHead()
            case .body(let remaining): step = readBody(remaining: remaining)
            case .chunkSize: step = parseChunkSize()
            case .chunkData(let remaining): step = readChunkData(remaining: remaining)
            case .chunkDataEnd: step = parseChunkDataEnd()
            case .trailers: step = parseTrailerLine()
            }
            switch step {
            case .proceed: continue
            case .needMore: return nil
            case .event(let event): return event
            }
        }
    }

    /// Empty lines before a request are ignored (RFC 9112 §2.2); dropping them here keeps
    /// stray CRLFs after a body from counting as a started request, or toward the head's size
    /// limit, however the bytes were split. The scanner may have consumed some already (a CR
    /// alone, then its LF): drop those too, but for a CR still waiting for its LF.
    private mutating func skipEmptyLines() {
        guard scanner.phase == .start || scanner.phase == .startLF else { return }
        start += scanner.phase == .start ? scanner.scanned : scanner.scanned - 1
        scanner.scanned = 0
        scanner.phase = .start
        while buffer.count - start >= 2 && buffer[start] == 0x0D && buffer[start + 1] == 0x0A {
            start += 2
        }
    }

    private mutating func parseHead() -> Step {
        skipEmptyLines()
        if start == buffer.count { return .needMore }
        // Moved out, not copied, for the scan: a copy would share the field array's storage,
        // and the scan's first append would then copy it (an allocation per request).
        var scanner = RequestHeadScanner()
        swap(&scanner, &self.scanner)
        let result = buffer.withUnsafeBufferPointer { buf in
            scanner.scan(buf, from: start, maxHeaderBytes: limits.maxHeaderBytes)
        }
        switch result {
        case .needMore:
            self.scanner = scanner
            return .needMore
        case .error(let error):
            return .event(fail(error))
        case .complete(let length):
            let head = buffer.withUnsafeBufferPointer { buf in
                scanner.buildHead(buf, from: start, limits: limits)
            }
            start += length
            scanner.reset()
            self.scanner = scanner
            switch head {
            case .failure(let error):
                return .event(fail(error))
            case .success(let parsed):
                return beginBody(of: parsed)
            }
        }
    }

    /// A complete head: the request itself when it has no body, else the body's state.
    private mutating func beginBody(of parsed: RequestHeadScanner.ParsedHead) -> Step {
        switch parsed.framing {
        case .none:
            return .event(.request(parsed.request))
        case .contentLength(let length):
            pendingRequest = parsed.request
            pendingBody = []
            pendingBody.reserveCapacity(length)
            state = .body(remaining: length)
        case .chunked:
            pendingRequest = parsed.request
            pendingBody = []
            state = .chunkSize
        }
        return parsed.expectContinue ? .event(.expectContinue) : .proceed
    }

    private mutating func readBody(remaining: Int) -> Step {
        let count = min(remaining, buffer.count - start)
        if count == 0 { return .needMore }
        pendingBody.append(contentsOf: buffer[start..<start + count])
        start += count
        if count == remaining { return .event(finishRequest()) }
        state = .body(remaining: remaining - count)
        return .needMore
    }

    private mutating func parseChunkSize() -> Step {
        switch findLine(maxLength: Self.maxChunkLineBytes) {
        case .needMore: return .needMore
        case .tooLong: return .event(fail(.badRequest("chunk size line too long")))
        case .bareCR: return .event(fail(.badRequest("bare CR in chunk size line")))
        case .bareLF: return .event(fail(.badRequest("bare LF in chunk size line")))
        case .line(let lineEnd, let next):
            let size = buffer.withUnsafeBufferPointer { buf in
                Self.parseChunkSize(buf, from: start, to: lineEnd)
            }
            start = next
            guard let size else { return .event(fail(.badRequest("invalid chunk size"))) }
            if size == 0 {
                trailerBytes = 0
                state = .trailers
            } else {
                guard size <= limits.maxBodyBytes - pendingBody.count else {
                    return .event(fail(HTTPParseError(status: 413, message: "request body too large")))
                }
                state = .chunkData(remaining: size)
            }
            return .proceed
        }
    }

    private mutating func readChunkData(remaining: Int) -> Step {
        let count = min(remaining, buffer.count - start)
        if count == 0 { return .needMore }
        pendingBody.append(contentsOf: buffer[start..<start + count])
        start += count
        if count < remaining {
            state = .chunkData(remaining: remaining - count)
            return .needMore
        }
        state = .chunkDataEnd
        return .proceed
    }

    private mutating func parseChunkDataEnd() -> Step {
        let available = buffer.count - start
        if available >= 1 && buffer[start] != 0x0D || available >= 2 && buffer[start + 1] != 0x0A {
            return .event(fail(.badRequest("missing CRLF after chunk data")))
        }
        if available < 2 { return .needMore }
        start += 2
        state = .chunkSize
        return .proceed
    }

    private mutating func parseTrailerLine() -> Step {
        let budget = limits.maxHeaderBytes - trailerBytes
        switch findLine(maxLength: budget) {
        case .needMore: return .needMore
        case .tooLong: return .event(fail(HTTPParseError(status: 431, message: "trailer section too large")))
        case .bareCR: return .event(fail(.badRequest("bare CR in trailer section")))
        case .bareLF: return .event(fail(.badRequest("bare LF in trailer section")))
        case .line(let lineEnd, let next):
            let isEmpty = lineEnd == start
            if !isEmpty, buffer[start] == 0x20 || buffer[start] == 0x09 {
                return .event(fail(.badRequest("obsolete line folding in trailer section")))
            }
            trailerBytes += next - start
            start = next
            return isEmpty ? .event(finishRequest()) : .proceed
        }
    }

    private mutating func finishRequest() -> HTTPParseEvent {
        state = .head
        guard var request = pendingRequest else {
            return fail(HTTPParseError(status: 500, message: "parser state error"))
        }
        pendingRequest = nil
        request.body = pendingBody
        pendingBody = []
        return .request(request)
    }

    private mutating func fail(_ error: HTTPParseError) -> HTTPParseEvent {
        state = .failed
        buffer = []
        start = 0
        pendingRequest = nil
        pendingBody = []
        scanner = RequestHeadScanner()
        return .error(error)
    }

    private enum LineResult {
        case needMore
        case tooLong
        case bareCR
        case bareLF
        /// `lineEnd` is the index of the CR, `next` the index after the LF.
        case line(lineEnd: Int, next: Int)
    }

    /// Finds the CRLF ending the line that starts at `start`, at most `maxLength` bytes with CRLF.
    private func findLine(maxLength: Int) -> LineResult {
        let end = min(buffer.count, start + max(maxLength, 0))
        var index = start
        while index < end {
            let byte = buffer[index]
            if byte == 0x0A { return .bareLF }
            if byte == 0x0D {
                if index + 1 >= buffer.count { return .needMore }
                if buffer[index + 1] != 0x0A { return .bareCR }
                if index + 2 - start > maxLength { return .tooLong }
                return .line(lineEnd: index, next: index + 2)
            }
            index += 1
        }
        return buffer.count - start >= maxLength ? .tooLong : .needMore
    }

    /// Parses `chunk-size [ chunk-ext ]` (extensions are validated loosely and ignored).
    private static func parseChunkSize(_ buf: UnsafeBufferPointer<UInt8>, from lineStart: Int, to lineEnd: Int) -> Int? {
        var index = lineStart
        var size = 0
        while index < lineEnd, let digit = RequestTarget.hexValue(buf[index]) {
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            if overflow { return nil }
            size = shifted + Int(digit)
            index += 1
        }
        if index == lineStart { return nil }
        // Optional extensions: BWS ";" ... ; nothing else may follow the size.
        while index < lineEnd, buf[index] == 0x20 || buf[index] == 0x09 {
            index += 1
        }
        if index < lineEnd {
            guard buf[index] == UInt8(ascii: ";") else { return nil }
            while index < lineEnd {
                guard HTTPCharacterClass.table[Int(buf[index])] & HTTPCharacterClass.fieldValue != 0 else { return nil }
                index += 1
            }
        }
        return size
    }
}
