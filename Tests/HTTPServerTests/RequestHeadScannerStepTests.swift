import Testing

@testable import HTTPServer

/// The scanner's named steps, each alone (the parser's tests cover them together).
@Suite struct RequestHeadScannerStepTests {
    typealias Step = RequestHeadScanner.Step

    private func withTable<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        HTTPCharacterClass.table.withUnsafeBufferPointer(body)
    }

    private func withBytes<R>(_ text: String, _ body: (RequestHeadScanner.Bytes) -> R) -> R {
        Array(text.utf8).withUnsafeBufferPointer { body($0[...]) }
    }

    private func bad(_ message: String) -> Step { .error(.badRequest(message)) }

    @Test func requestLineStart() {
        withTable { table in
            var scanner = RequestHeadScanner()
            #expect(scanner.requestLineStart(0x0D, at: 0, table) == .next(.startLF))
            #expect(scanner.requestLineStart(0x0A, at: 0, table) == bad("bare LF in request head"))
            #expect(scanner.requestLineStart(0x20, at: 0, table) == bad("malformed request line"))
            #expect(scanner.requestLineStart(UInt8(ascii: "G"), at: 3, table) == .next(.method))
            #expect(scanner.methodStart == 3)
        }
    }

    @Test func methodTargetAndVersion() {
        withTable { table in
            var scanner = RequestHeadScanner()
            #expect(scanner.method(UInt8(ascii: "T"), at: 1, table) == .next(.method))
            #expect(scanner.method(UInt8(ascii: "/"), at: 1, table) == bad("invalid character in method"))
            #expect(scanner.method(0x20, at: 3, table) == .next(.target))
            #expect(scanner.methodEnd == 3)
            #expect(scanner.target(0x20, at: 4, table) == bad("empty request target"))
            #expect(scanner.target(UInt8(ascii: "/"), at: 4, table) == .next(.target))
            #expect(scanner.target(0x7F, at: 5, table) == bad("invalid character in request target"))
            #expect(scanner.target(0x20, at: 5, table) == .next(.version))
            #expect(scanner.targetEnd == 5)
            #expect(scanner.version(UInt8(ascii: "H"), at: 6, table) == .next(.version))
            #expect(scanner.version(0x0A, at: 6, table) == bad("bare LF in request head"))
            #expect(scanner.version(0x20, at: 6, table) == bad("malformed request line"))
            #expect(scanner.version(0x0D, at: 14, table) == .next(.requestLineLF))
            #expect(scanner.versionEnd == 14)
        }
    }

    @Test func headerLines() {
        withTable { table in
            var scanner = RequestHeadScanner()
            #expect(scanner.headerLineStart(0x0D, at: 0, table) == .next(.finalLF))
            #expect(scanner.headerLineStart(0x0A, at: 0, table) == bad("bare LF in request head"))
            #expect(scanner.headerLineStart(0x09, at: 0, table)
                == bad("obsolete line folding or whitespace before a header line"))
            #expect(scanner.headerLineStart(UInt8(ascii: "@"), at: 0, table) == bad("invalid character in header name"))
            #expect(scanner.headerLineStart(UInt8(ascii: "H"), at: 16, table) == .next(.name))
            #expect(scanner.nameStart == 16)
            #expect(scanner.headerName(UInt8(ascii: "o"), at: 17, table) == .next(.name))
            #expect(scanner.headerName(0x20, at: 17, table) == bad("whitespace between header name and colon"))
            #expect(scanner.headerName(0x0D, at: 17, table) == bad("header line without colon"))
            #expect(scanner.headerName(UInt8(ascii: "("), at: 17, table) == bad("invalid character in header name"))
            #expect(scanner.headerName(UInt8(ascii: ":"), at: 20, table) == .next(.value))
            #expect(scanner.colon == 20)
            #expect(scanner.headerValueEnd(0x0A, at: 23) == bad("bare LF in request head"))
            #expect(scanner.headerValueEnd(0x00, at: 23) == bad("invalid character in header value"))
            #expect(scanner.fields.isEmpty)
            #expect(scanner.headerValueEnd(0x0D, at: 23) == .next(.lineLF))
            #expect(scanner.fields.map { [$0.nameStart, $0.colon, $0.end] } == [[16, 20, 23]])
        }
    }

    @Test func fieldValueFastPath() {
        withTable { table in
            let bytes = Array(" a\tb\u{80}c\r\n".utf8)
            bytes.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                #expect(RequestHeadScanner.fieldValueEnd(base, from: 0, limit: bytes.count, table) == bytes.count - 2)
                #expect(RequestHeadScanner.fieldValueEnd(base, from: 0, limit: 3, table) == 3)
            }
        }
    }

    @Test func lineEndsAndLimit() {
        #expect(RequestHeadScanner.lineFeed(0x0A, then: .lineStart) == .next(.lineStart))
        #expect(RequestHeadScanner.lineFeed(0x0A, then: .start) == .next(.start))
        #expect(RequestHeadScanner.lineFeed(0x41, then: .start) == bad("bare CR in request head"))
        #expect(RequestHeadScanner.finalLineFeed(0x0A) == .complete)
        #expect(RequestHeadScanner.finalLineFeed(0x0D) == bad("bare CR in request head"))
        #expect(RequestHeadScanner.tooLarge(in: .target).status == 414)
        #expect(RequestHeadScanner.tooLarge(in: .method).status == 431)
        #expect(RequestHeadScanner.tooLarge(in: .value).status == 431)
    }

    @Test(arguments: [
        ("HTTP/1.1", 1), ("HTTP/1.0", 0), ("HTTP/1.9", 1),
        ("HTTP/2.0", 505), ("HTTP/0.9", 505),
        ("HTTP/1.", 400), ("http/1.1", 400), ("HTTP/1,1", 400), ("HTTP/1.10", 400), ("HTTP/x.1", 400),
    ])
    func versionMinor(text: String, expected: Int) {
        let result = withBytes(text) { RequestHeadScanner.versionMinor($0) }
        switch result {
        case .success(let minor): #expect(minor == expected, "\(text)")
        case .failure(let error): #expect(error.status == expected, "\(text)")
        }
    }

    @Test func contentLength() {
        var meaning = RequestHeadScanner.HeaderMeaning()
        #expect(withBytes("12, 12 ,12") { meaning.note(name: $0.prefix(0), value: $0) } == nil)  // no name: ignored
        #expect(meaning.contentLength == nil)
        #expect(withBytes("12, 12 ,12") { value in withBytes("Content-Length") { meaning.note(name: $0, value: value) } } == nil)
        #expect(meaning.contentLength == 12)
        #expect(withBytes("13") { meaning.noteContentLength($0) } == .badRequest("conflicting Content-Length values"))
        for text in ["", "1,", "-1", "+1", "1 2", "0x10", "99999999999999999999"] {
            var fresh = RequestHeadScanner.HeaderMeaning()
            #expect(withBytes(text) { fresh.noteContentLength($0) } == .badRequest("invalid Content-Length"), "\(text)")
        }
    }

    @Test func hostAndExpect() {
        var meaning = RequestHeadScanner.HeaderMeaning()
        #expect(meaning.hostError(versionMinor: 1) == .badRequest("missing Host header"))
        #expect(meaning.hostError(versionMinor: 0) == nil)
        _ = withBytes("h") { value in withBytes("HOST") { meaning.note(name: $0, value: value) } }
        _ = withBytes("100-Continue") { value in withBytes("expect") { meaning.note(name: $0, value: value) } }
        #expect(meaning.hostError(versionMinor: 1) == nil)
        #expect(meaning.expectContinue)
        _ = withBytes("h") { value in withBytes("host") { meaning.note(name: $0, value: value) } }
        #expect(meaning.hostError(versionMinor: 0) == .badRequest("multiple Host headers"))
    }

    private func framing(_ fields: [(String, String)], minor: Int = 1, maxBodyBytes: Int = 100) -> Result<RequestHeadScanner.Framing, HTTPParseError> {
        var meaning = RequestHeadScanner.HeaderMeaning()
        for (name, value) in [("Host", "h")] + fields {
            if let error = withBytes(value, { value in withBytes(name) { meaning.note(name: $0, value: value) } }) {
                return .failure(error)
            }
        }
        return meaning.framing(versionMinor: minor, maxBodyBytes: maxBodyBytes)
    }

    @Test func framing() {
        #expect(framing([]) == .success(.none))
        #expect(framing([("Content-Length", "0")]) == .success(.none))
        #expect(framing([("Content-Length", "100")]) == .success(.contentLength(100)))
        #expect(framing([("Content-Length", "101")]) == .failure(HTTPParseError(status: 413, message: "request body too large")))
        #expect(framing([("Transfer-Encoding", " chunked ")]) == .success(.chunked))
        #expect(framing([("Transfer-Encoding", "CHUNKED")]) == .success(.chunked))
        #expect(framing([("Transfer-Encoding", "chunked")], minor: 0)
            == .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request")))
        #expect(framing([("Transfer-Encoding", "chunked"), ("Content-Length", "1")])
            == .failure(.badRequest("both Content-Length and Transfer-Encoding")))
        #expect(framing([("Transfer-Encoding", "chunked, gzip")]) == .failure(.badRequest("chunked is not the final transfer coding")))
        #expect(framing([("Transfer-Encoding", "")]) == .failure(.badRequest("chunked is not the final transfer coding")))
        #expect(framing([("Transfer-Encoding", ", chunked")]) == .failure(.badRequest("empty transfer coding")))
        #expect(framing([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")])
            == .failure(.badRequest("chunked applied more than once")))
        #expect(framing([("Transfer-Encoding", "gzip, chunked")]) == .failure(HTTPParseError(status: 501, message: "unsupported transfer coding")))
        #expect(framing([("Host", "again")]) == .failure(.badRequest("multiple Host headers")))
        #expect(RequestHeadScanner.Framing.none.hasBody == false)
        #expect(RequestHeadScanner.Framing.chunked.hasBody)
    }
}
