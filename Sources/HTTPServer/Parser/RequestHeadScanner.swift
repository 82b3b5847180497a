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

    enum Framing {
        case none
        case contentLength(Int)
        case chunked
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

    mutating func scan(_ buf: UnsafeBufferPointer<UInt8>, from headStart: Int, maxHeaderBytes: Int) -> ScanResult {
        guard let base = buf.baseAddress else { return .needMore }
        let bytes = base + headStart
        let available = buf.count - headStart
        let limit = min(available, maxHeaderBytes)
        let result: ScanResult? = HTTPCharacterClass.table.withUnsafeBufferPointer { table in
            var index = scanned
            var phase = self.phase
            defer {
                self.phase = phase
                self.scanned = index
            }
            while index < limit {
                let byte = bytes[index]
                switch phase {
                case .start:
                    if byte == 0x0D {
                        phase = .startLF
                    } else if byte == 0x0A {
                        return .error(.badRequest("bare LF in request head"))
                    } else if table[Int(byte)] & HTTPCharacterClass.token != 0 {
                        methodStart = index
                        phase = .method
                    } else {
                        return .error(.badRequest("malformed request line"))
                    }
                case .startLF:
                    guard byte == 0x0A else { return .error(.badRequest("bare CR in request head")) }
                    phase = .start
                case .method:
                    if byte == 0x20 {
                        methodEnd = index
                        phase = .target
                    } else if table[Int(byte)] & HTTPCharacterClass.token == 0 {
                        return .error(.badRequest("invalid character in method"))
                    }
                case .target:
                    if byte == 0x20 {
                        if index == methodEnd + 1 { return .error(.badRequest("empty request target")) }
                        targetEnd = index
                        phase = .version
                    } else if table[Int(byte)] & HTTPCharacterClass.target == 0 {
                        return .error(.badRequest("invalid character in request target"))
                    }
                case .version:
                    if byte == 0x0D {
                        versionEnd = index
                        phase = .requestLineLF
                    } else if byte == 0x0A {
                        return .error(.badRequest("bare LF in request head"))
                    } else if table[Int(byte)] & HTTPCharacterClass.target == 0 {
                        return .error(.badRequest("malformed request line"))
                    }
                case .requestLineLF, .lineLF:
                    guard byte == 0x0A else { return .error(.badRequest("bare CR in request head")) }
                    phase = .lineStart
                case .lineStart:
                    if byte == 0x0D {
                        phase = .finalLF
                    } else if byte == 0x0A {
                        return .error(.badRequest("bare LF in request head"))
                    } else if byte == 0x20 || byte == 0x09 {
                        return .error(.badRequest("obsolete line folding or whitespace before a header line"))
                    } else if table[Int(byte)] & HTTPCharacterClass.token != 0 {
                        nameStart = index
                        phase = .name
                    } else {
                        return .error(.badRequest("invalid character in header name"))
                    }
                case .name:
                    if byte == UInt8(ascii: ":") {
                        colon = index
                        phase = .value
                    } else if table[Int(byte)] & HTTPCharacterClass.token == 0 {
                        if byte == 0x20 || byte == 0x09 {
                            return .error(.badRequest("whitespace between header name and colon"))
                        }
                        if byte == 0x0D || byte == 0x0A {
                            return .error(.badRequest("header line without colon"))
                        }
                        return .error(.badRequest("invalid character in header name"))
                    }
                case .value:
                    // Fast path over the value's ordinary bytes.
                    var next = index
                    while next < limit, table[Int(bytes[next])] & HTTPCharacterClass.fieldValue != 0 {
                        next += 1
                    }
                    index = next
                    if index == limit { continue }
                    let stop = bytes[index]
                    if stop == 0x0D {
                        fields.append(Field(nameStart: nameStart, colon: colon, end: index))
                        phase = .lineLF
                    } else if stop == 0x0A {
                        return .error(.badRequest("bare LF in request head"))
                    } else {
                        return .error(.badRequest("invalid character in header value"))
                    }
                case .finalLF:
                    guard byte == 0x0A else { return .error(.badRequest("bare CR in request head")) }
                    index += 1
                    return .complete(length: index)
                }
                index += 1
            }
            return nil
        }
        if let result { return result }
        if available > maxHeaderBytes {
            // RFC 9112 §3: a request-target longer than the server parses is a 414.
            if phase == .target { return .error(HTTPParseError(status: 414, message: "request target too long")) }
            return .error(HTTPParseError(status: 431, message: "request header section too large"))
        }
        return .needMore
    }

    /// Interprets a complete head: version, target form, fields and message framing.
    func buildHead(_ buf: UnsafeBufferPointer<UInt8>, from headStart: Int, limits: HTTPParserLimits) -> Result<ParsedHead, HTTPParseError> {
        guard let base = buf.baseAddress else { return .failure(.badRequest("empty request head")) }
        let bytes = UnsafeBufferPointer(start: base + headStart, count: buf.count - headStart)

        // HTTP-version = "HTTP/" DIGIT "." DIGIT
        let version = bytes[(targetEnd + 1)..<versionEnd]
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
        // RFC 9110 §2.5: a higher minor version of a major version we implement is served as
        // the highest minor version we implement.
        let minor = min(sentMinor, 1)

        let method = String(decoding: bytes[methodStart..<methodEnd], as: UTF8.self)
        let target = String(decoding: bytes[(methodEnd + 1)..<targetEnd], as: UTF8.self)
        guard RequestTarget.isValid(target, method: method) else {
            return .failure(.badRequest("invalid request target"))
        }

        var headers = HTTPHeaders(reservingCapacity: fields.count)
        var hostCount = 0
        var contentLength: Int?
        var transferCodings: [ArraySlice<UInt8>] = []
        var hasTransferEncoding = false
        var expectContinue = false
        for field in fields {
            let name = bytes[field.nameStart..<field.colon]
            let value = trimmedOWS(bytes[(field.colon + 1)..<field.end])
            switch name.count {
            case 4 where name.asciiCaseInsensitiveEquals("host".utf8):
                hostCount += 1
            case 6 where name.asciiCaseInsensitiveEquals("expect".utf8):
                if value.asciiCaseInsensitiveEquals("100-continue".utf8) { expectContinue = true }
            case 14 where name.asciiCaseInsensitiveEquals("content-length".utf8):
                // A list of equal values is one value (RFC 9112 §6.3); walked without splitting
                // into an array, as every request with a body has this header.
                var rest = value[...]
                while true {
                    let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                    guard let length = parseDecimal(trimmedOWS(rest[..<comma])) else {
                        return .failure(.badRequest("invalid Content-Length"))
                    }
                    if let previous = contentLength, previous != length {
                        return .failure(.badRequest("conflicting Content-Length values"))
                    }
                    contentLength = length
                    guard comma != rest.endIndex else { break }
                    rest = rest[rest.index(after: comma)...]
                }
            case 17 where name.asciiCaseInsensitiveEquals("transfer-encoding".utf8):
                hasTransferEncoding = true
                for element in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    transferCodings.append(ArraySlice(trimmedOWS(element)))
                }
            default:
                break
            }
            headers.add(name: CommonFieldText.string(name), value: CommonFieldText.string(value))
        }

        if minor == 1 && hostCount == 0 {
            return .failure(.badRequest("missing Host header"))
        }
        if hostCount > 1 {
            return .failure(.badRequest("multiple Host headers"))
        }

        var framing = Framing.none
        if hasTransferEncoding {
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
            for coding in transferCodings.dropLast() {
                if coding.isEmpty {
                    return .failure(.badRequest("empty transfer coding"))
                }
                if coding.asciiCaseInsensitiveEquals("chunked".utf8) {
                    return .failure(.badRequest("chunked applied more than once"))
                }
                return .failure(HTTPParseError(status: 501, message: "unsupported transfer coding"))
            }
            framing = .chunked
        } else if let contentLength {
            if contentLength > limits.maxBodyBytes {
                return .failure(HTTPParseError(status: 413, message: "request body too large"))
            }
            if contentLength > 0 {
                framing = .contentLength(contentLength)
            }
        }

        let request = HTTPRequest(method: method, target: target, versionMinor: minor, headers: headers)
        let hasBody: Bool
        if case .none = framing { hasBody = false } else { hasBody = true }
        return .success(ParsedHead(request: request, framing: framing, expectContinue: expectContinue && minor == 1 && hasBody))
    }

    private func decimalDigit(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
    }

    /// 1*DIGIT without sign or overflow.
    private func parseDecimal(_ digits: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
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
