/// Incremental scanner for a request head: finds its end while validating the bytes one by one,
/// so that garbage is rejected as soon as it arrives, and records where the parts are.
/// Offsets are relative to the start of the head in the parser's buffer.
struct RequestHeadScanner: Sendable {
    enum Phase: UInt8, Sendable {
        case start, startLF, method, target, version, requestLineLF, lineStart, name, value, lineLF, finalLF
    }

    struct Field: Sendable {
        var nameStart: Int
        var colon: Int
        var end: Int
    }

    enum ScanResult {
        case needMore
        case complete(length: Int)
        case error(HTTPParseError)
    }

    enum Framing: Equatable {
        case none
        case contentLength(Int)
        case chunked

        var hasBody: Bool {
            if case .none = self { return false }
            return true
        }
    }

    struct ParsedHead {
        var request: HTTPRequest
        var framing: Framing
        var expectContinue: Bool
    }

    var phase: Phase = .start
    var scanned = 0
    var methodStart = 0
    var methodEnd = 0
    var targetEnd = 0
    var versionEnd = 0
    var nameStart = 0
    var colon = 0
    var fields: [Field] = []

    init() {}

    /// Ready for the next head, keeping the field array's storage.
    mutating func reset() {
        var fields = self.fields
        self.fields = []
        fields.removeAll(keepingCapacity: true)
        self = RequestHeadScanner()
        self.fields = fields
    }

    /// The bytes of the head, as the steps of `buildHead` read them.
    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    /// What one byte did to the scan.
    enum Step: Equatable {
        /// The scan goes on in this phase.
        case next(Phase)
        /// The byte was the head's last.
        case complete
        case error(HTTPParseError)
    }

    mutating func scan(_ buf: UnsafeBufferPointer<UInt8>, from headStart: Int, maxHeaderBytes: Int) -> ScanResult {
        guard let base = buf.baseAddress else { return .needMore }
        let available = buf.count - headStart
        let limit = min(available, maxHeaderBytes)
        let result = HTTPCharacterClass.table.withUnsafeBufferPointer { table in
            scanBytes(base + headStart, limit: limit, table: table)
        }
        if let result { return result }
        if available > maxHeaderBytes { return .error(Self.tooLarge(in: phase)) }
        return .needMore
    }

    /// Scans from `scanned` to `limit`, one step a byte: the result, or nil when the head goes on.
    @inline(__always)
    private mutating func scanBytes(_ bytes: UnsafePointer<UInt8>, limit: Int, table: UnsafeBufferPointer<UInt8>) -> ScanResult? {
        var index = scanned
        var phase = self.phase
        defer {
            self.phase = phase
            self.scanned = index
        }
        while index < limit {
            let byte = bytes[index]
            let step: Step
            switch phase {
            case .start: step = requestLineStart(byte, at: index, table)
            case .startLF: step = Self.lineFeed(byte, then: .start)
            case .method: step = method(byte, at: index, table)
            case .target: step = target(byte, at: index, table)
            case .version: step = version(byte, at: index, table)
            case .requestLineLF, .lineLF: step = Self.lineFeed(byte, then: .lineStart)
            case .lineStart: step = headerLineStart(byte, at: index, table)
            case .name: step = headerName(byte, at: index, table)
            case .value:
                index = Self.fieldValueEnd(bytes, from: index, limit: limit, table)
                if index == limit { continue }
                step = headerValueEnd(bytes[index], at: index)
            case .finalLF: step = Self.finalLineFeed(byte)
            }
            switch step {
            case .next(let next):
                phase = next
            case .complete:
                index += 1
                return .complete(length: index)
            case .error(let error):
                return .error(error)
            }
            index += 1
        }
        return nil
    }

    // MARK: Scan steps: the request line

    /// Before the method: empty lines (CRLF) are skipped.
    @inline(__always)
    mutating func requestLineStart(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        if byte == 0x0D { return .next(.startLF) }
        if byte == 0x0A { return .error(.badRequest("bare LF in request head")) }
        guard Self.isToken(byte, table) else { return .error(.badRequest("malformed request line")) }
        methodStart = index
        return .next(.method)
    }

    /// method = token, then SP.
    @inline(__always)
    mutating func method(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        guard byte != 0x20 else { methodEnd = index; return .next(.target) }
        return Self.continues(byte, HTTPCharacterClass.token, .method, table, else: "invalid character in method")
    }

    /// request-target = 1*VCHAR, then SP.
    @inline(__always)
    mutating func target(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        if byte == 0x20 {
            if index == methodEnd + 1 { return .error(.badRequest("empty request target")) }
            targetEnd = index
            return .next(.version)
        }
        return Self.continues(byte, HTTPCharacterClass.target, .target, table, else: "invalid character in request target")
    }

    /// HTTP-version up to its CR (its form is checked by `versionMinor`).
    @inline(__always)
    mutating func version(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        guard byte != 0x0D else { versionEnd = index; return .next(.requestLineLF) }
        if byte == 0x0A { return .error(.badRequest("bare LF in request head")) }
        return Self.continues(byte, HTTPCharacterClass.target, .version, table, else: "malformed request line")
    }

    // MARK: Scan steps: header lines

    /// The first byte of a header line: a field name, or the CR of the empty line ending the head.
    @inline(__always)
    mutating func headerLineStart(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        if byte == 0x0D { return .next(.finalLF) }
        if byte == 0x0A { return .error(.badRequest("bare LF in request head")) }
        if byte == 0x20 || byte == 0x09 {
            return .error(.badRequest("obsolete line folding or whitespace before a header line"))
        }
        guard Self.isToken(byte, table) else { return .error(.badRequest("invalid character in header name")) }
        nameStart = index
        return .next(.name)
    }

    /// field-name = token, then ":" (no whitespace before it, RFC 9112 §5.1).
    @inline(__always)
    mutating func headerName(_ byte: UInt8, at index: Int, _ table: UnsafeBufferPointer<UInt8>) -> Step {
        if byte == UInt8(ascii: ":") {
            colon = index
            return .next(.value)
        }
        if Self.isToken(byte, table) { return .next(.name) }
        if byte == 0x20 || byte == 0x09 { return .error(.badRequest("whitespace between header name and colon")) }
        if byte == 0x0D || byte == 0x0A { return .error(.badRequest("header line without colon")) }
        return .error(.badRequest("invalid character in header name"))
    }

    /// The fast path over a field value's ordinary bytes: the index of the first other byte, or
    /// `limit`.
    @inline(__always)
    static func fieldValueEnd(_ bytes: UnsafePointer<UInt8>, from index: Int, limit: Int, _ table: UnsafeBufferPointer<UInt8>) -> Int {
        var next = index
        while next < limit, table[Int(bytes[next])] & HTTPCharacterClass.fieldValue != 0 {
            next += 1
        }
        return next
    }

    /// The byte that ended a field value: its line's CR records the field.
    @inline(__always)
    mutating func headerValueEnd(_ stop: UInt8, at index: Int) -> Step {
        if stop == 0x0D {
            fields.append(Field(nameStart: nameStart, colon: colon, end: index))
            return .next(.lineLF)
        }
        if stop == 0x0A { return .error(.badRequest("bare LF in request head")) }
        return .error(.badRequest("invalid character in header value"))
    }

    // MARK: Scan steps: line ends

    /// The LF after a CR, then `next`.
    @inline(__always)
    static func lineFeed(_ byte: UInt8, then next: Phase) -> Step {
        byte == 0x0A ? .next(next) : .error(.badRequest("bare CR in request head"))
    }

    /// The LF of the empty line: the head is complete.
    @inline(__always)
    static func finalLineFeed(_ byte: UInt8) -> Step {
        byte == 0x0A ? .complete : .error(.badRequest("bare CR in request head"))
    }

    /// More than `maxHeaderBytes` without the head's end.
    static func tooLarge(in phase: Phase) -> HTTPParseError {
        // RFC 9112 §3: a request-target longer than the server parses is a 414.
        if phase == .target { return HTTPParseError(status: 414, message: "request target too long") }
        return HTTPParseError(status: 431, message: "request header section too large")
    }

    @inline(__always)
    private static func isToken(_ byte: UInt8, _ table: UnsafeBufferPointer<UInt8>) -> Bool {
        table[Int(byte)] & HTTPCharacterClass.token != 0
    }

    /// A byte of `characterClass` goes on in `phase`; another is a 400 saying `message`.
    @inline(__always)
    private static func continues(
        _ byte: UInt8, _ characterClass: UInt8, _ phase: Phase, _ table: UnsafeBufferPointer<UInt8>, else message: String
    ) -> Step {
        table[Int(byte)] & characterClass != 0 ? .next(phase) : .error(.badRequest(message))
    }

    // MARK: - The head's meaning

    /// Interprets a complete head: version, target form, fields and message framing.
    func buildHead(_ buf: UnsafeBufferPointer<UInt8>, from headStart: Int, limits: HTTPParserLimits) -> Result<ParsedHead, HTTPParseError> {
        guard let base = buf.baseAddress else { return .failure(.badRequest("empty request head")) }
        let bytes = UnsafeBufferPointer(start: base + headStart, count: buf.count - headStart)
        let minor: Int
        switch Self.versionMinor(bytes[(targetEnd + 1)..<versionEnd]) {
        case .success(let value): minor = value
        case .failure(let error): return .failure(error)
        }
        let method = String(decoding: bytes[methodStart..<methodEnd], as: UTF8.self)
        let target = String(decoding: bytes[(methodEnd + 1)..<targetEnd], as: UTF8.self)
        guard RequestTarget.isValid(target, method: method) else {
            return .failure(.badRequest("invalid request target"))
        }

        var headers = HTTPHeaders(reservingCapacity: fields.count)
        var meaning = HeaderMeaning()
        for field in fields {
            let name = bytes[field.nameStart..<field.colon]
            let value = trimmedOWS(bytes[(field.colon + 1)..<field.end])
            if let error = meaning.note(name: name, value: value) { return .failure(error) }
            headers.add(name: CommonFieldText.string(name), value: CommonFieldText.string(value))
        }
        let framing: Framing
        switch meaning.framing(versionMinor: minor, maxBodyBytes: limits.maxBodyBytes) {
        case .success(let value): framing = value
        case .failure(let error): return .failure(error)
        }
        let request = HTTPRequest(method: method, target: target, versionMinor: minor, headers: headers)
        return .success(ParsedHead(request: request, framing: framing,
                                   expectContinue: meaning.expectContinue && minor == 1 && framing.hasBody))
    }

    /// HTTP-version = "HTTP/" DIGIT "." DIGIT: the minor version served (RFC 9110 §2.5: a higher
    /// minor version of a major version we implement is served as the highest we implement).
    static func versionMinor(_ version: Bytes) -> Result<Int, HTTPParseError> {
        guard version.count == 8,
              version.starts(with: "HTTP/".utf8),
              let major = decimalDigit(version[version.startIndex + 5]),
              version[version.startIndex + 6] == UInt8(ascii: "."),
              let sentMinor = decimalDigit(version[version.startIndex + 7])
        else {
            return .failure(.badRequest("malformed HTTP version"))
        }
        guard major == 1 else {
            return .failure(HTTPParseError(status: 505, message: "HTTP version not supported"))
        }
        return .success(min(sentMinor, 1))
    }

    /// What the fields say about the message, noted field by field: Host, Expect, and the
    /// framing (Content-Length, Transfer-Encoding). The other fields mean nothing to the parser.
    struct HeaderMeaning {
        var hostCount = 0
        var contentLength: Int?
        var transferCodings: [ArraySlice<UInt8>] = []
        var hasTransferEncoding = false
        var expectContinue = false

        /// Notes one field (its value without surrounding whitespace); an error for a field
        /// that alone makes the request invalid.
        @inline(__always)
        mutating func note(name: Bytes, value: Bytes) -> HTTPParseError? {
            switch name.count {
            case 4 where name.asciiCaseInsensitiveEquals("host".utf8):
                hostCount += 1
            case 6 where name.asciiCaseInsensitiveEquals("expect".utf8):
                if value.asciiCaseInsensitiveEquals("100-continue".utf8) { expectContinue = true }
            case 14 where name.asciiCaseInsensitiveEquals("content-length".utf8):
                return noteContentLength(value)
            case 17 where name.asciiCaseInsensitiveEquals("transfer-encoding".utf8):
                noteTransferEncoding(value)
            default:
                break
            }
            return nil
        }

        /// A list of equal values is one value (RFC 9112 §6.3); walked without splitting into an
        /// array, as every request with a body has this header.
        mutating func noteContentLength(_ value: Bytes) -> HTTPParseError? {
            var rest = value
            while true {
                let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                guard let length = RequestHeadScanner.parseDecimal(trimmedOWS(rest[..<comma])) else {
                    return .badRequest("invalid Content-Length")
                }
                if let previous = contentLength, previous != length {
                    return .badRequest("conflicting Content-Length values")
                }
                contentLength = length
                guard comma != rest.endIndex else { return nil }
                rest = rest[rest.index(after: comma)...]
            }
        }

        mutating func noteTransferEncoding(_ value: Bytes) {
            hasTransferEncoding = true
            for element in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                transferCodings.append(ArraySlice(trimmedOWS(element)))
            }
        }

        /// Once every field is noted: Host checked, and how the body is framed.
        func framing(versionMinor minor: Int, maxBodyBytes: Int) -> Result<Framing, HTTPParseError> {
            if let error = hostError(versionMinor: minor) { return .failure(error) }
            if hasTransferEncoding { return chunkedFraming(versionMinor: minor) }
            if let contentLength {
                if contentLength > maxBodyBytes {
                    return .failure(HTTPParseError(status: 413, message: "request body too large"))
                }
                if contentLength > 0 { return .success(.contentLength(contentLength)) }
            }
            return .success(.none)
        }

        /// HTTP/1.1 needs exactly one Host; HTTP/1.0 at most one.
        func hostError(versionMinor minor: Int) -> HTTPParseError? {
            if minor == 1 && hostCount == 0 { return .badRequest("missing Host header") }
            if hostCount > 1 { return .badRequest("multiple Host headers") }
            return nil
        }

        /// A Transfer-Encoding: chunked as the only and final coding, in HTTP/1.1, without
        /// Content-Length.
        func chunkedFraming(versionMinor minor: Int) -> Result<Framing, HTTPParseError> {
            if contentLength != nil {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding"))
            }
            if minor == 0 {
                return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request"))
            }
            // RFC 9112 §6.3: chunked must be the final coding, else the length is unknown (400);
            // §6.1: other codings are not implemented here (501); chunked twice is invalid (400).
            guard let last = transferCodings.last, last.asciiCaseInsensitiveEquals("chunked".utf8) else {
                return .failure(.badRequest("chunked is not the final transfer coding"))
            }
            if let coding = transferCodings.dropLast().first {
                if coding.isEmpty {
                    return .failure(.badRequest("empty transfer coding"))
                }
                if coding.asciiCaseInsensitiveEquals("chunked".utf8) {
                    return .failure(.badRequest("chunked applied more than once"))
                }
                return .failure(HTTPParseError(status: 501, message: "unsupported transfer coding"))
            }
            return .success(.chunked)
        }
    }

    private static func decimalDigit(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
    }

    /// 1*DIGIT without sign or overflow.
    static func parseDecimal(_ digits: Bytes) -> Int? {
        if digits.isEmpty { return nil }
        var value = 0
        for byte in digits {
            guard let digit = decimalDigit(byte) else { return nil }
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = multiplied.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = added
        }
        return value
    }
}
