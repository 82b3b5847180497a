// libFuzzer entry for HTTPRequestParser (built by Tests/Fuzz/fuzz.sh with the parser's sources
// from Sources/HTTPServer compiled into the same module, so internal names are visible).
//
// Besides "never traps" (bounds, overflow, ASan), each input is checked for properties that
// must hold for any bytes:
// - feeding the input whole, byte by byte, and in pieces of sizes taken from the input itself
//   gives the same events (the parser is incremental; a split must never change the meaning);
// - every request respects the limits (body size) and the grammar (method is a token, the
//   target is non-empty visible ASCII, the version is 1.0 or 1.1, the fields are not empty);
// - an error is the last event, is a 4xx or 5xx, and the parser then stays failed.
// A violated property calls fatalError, which libFuzzer reports as a crash with the input.

/// Small limits, so that short inputs reach the 413 and 431 paths.
private let fuzzLimits = HTTPParserLimits(maxHeaderBytes: 512, maxBodyBytes: 1024)

private func digest(_ event: HTTPParseEvent) -> String {
    switch event {
    case .request(let request):
        var text = "request \(request.method) \(request.target) 1.\(request.versionMinor) path=\(request.path)"
        for field in request.headers {
            text += " [\(field.name): \(field.value)]"
        }
        text += " query=\(request.query.sorted { $0.key < $1.key }) body=\(request.body)"
        return text
    case .expectContinue:
        return "continue"
    case .error(let error):
        return "error \(error.status) \(error.message)"
    }
}

private func check(_ event: HTTPParseEvent) {
    switch event {
    case .request(let request):
        guard request.body.count <= fuzzLimits.maxBodyBytes else { fatalError("body beyond the limit: \(request.body.count)") }
        guard !request.method.isEmpty, request.method.utf8.allSatisfy({ HTTPCharacterClass.table[Int($0)] & HTTPCharacterClass.token != 0 })
        else { fatalError("method is not a token: \(request.method.debugDescription)") }
        guard !request.target.isEmpty, request.target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { fatalError("target is not visible ASCII: \(request.target.debugDescription)") }
        guard request.versionMinor == 0 || request.versionMinor == 1 else { fatalError("version 1.\(request.versionMinor)") }
        guard !request.path.isEmpty else { fatalError("empty path for \(request.target.debugDescription)") }
        for field in request.headers {
            guard !field.name.isEmpty else { fatalError("empty field name") }
            guard !field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
            else { fatalError("CR, LF or NUL in a field value: \(field.value.debugDescription)") }
        }
        if request.versionMinor == 1 {
            guard request.headers.values("host").count == 1 else { fatalError("HTTP/1.1 request without exactly one Host") }
        }
    case .expectContinue:
        break
    case .error(let error):
        guard (400...599).contains(error.status) else { fatalError("error status \(error.status)") }
    }
}

/// Parses `bytes` fed in pieces of the given sizes (cycled), returning every event's digest.
private func run(_ bytes: UnsafeBufferPointer<UInt8>, pieces: [Int]) -> [String] {
    var parser = HTTPRequestParser(limits: fuzzLimits)
    var digests: [String] = []
    var offset = 0
    var piece = 0
    var failed = false
    while offset < bytes.count {
        let size = max(1, pieces[piece % pieces.count])
        piece += 1
        let end = min(bytes.count, offset + size)
        parser.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[offset..<end])))
        offset = end
        while let event = parser.next() {
            guard !failed else { fatalError("an event after an error: \(digest(event))") }
            check(event)
            if case .error = event {
                failed = true
                guard parser.isFailed, !parser.hasPartialRequest else { fatalError("failed parser state") }
            }
            digests.append(digest(event))
        }
    }
    if failed {
        // A failed parser ignores further input for good.
        parser.append(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        guard parser.next() == nil else { fatalError("a failed parser parsed again") }
    }
    return digests
}

@_cdecl("LLVMFuzzerTestOneInput")
public func httpParserFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    let whole = run(bytes, pieces: [max(1, bytes.count)])
    let byteByByte = run(bytes, pieces: [1])
    guard byteByByte == whole else { fatalError("byte by byte differs:\n\(byteByByte)\nwhole:\n\(whole)") }
    // Piece sizes from the input's own bytes: the fuzzer steers the splits too.
    var pieces = bytes.prefix(8).map { Int($0 % 17) + 1 }
    if pieces.isEmpty { pieces = [1] }
    let split = run(bytes, pieces: pieces)
    guard split == whole else { fatalError("pieces \(pieces) differ:\n\(split)\nwhole:\n\(whole)") }
    return 0
}
