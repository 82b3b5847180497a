import Foundation
import HTTPServer
import Testing

/// Regressions found by the HTTP parser fuzzer (Tests/Fuzz/HTTPParserFuzz.swift), and the fuzz
/// corpus replayed with the fuzzer's own property: every split of the input parses alike.
@Suite struct ParserFuzzRegressionTests {
    /// The limits the fuzz target runs with.
    static let fuzzLimits = HTTPParserLimits(maxHeaderBytes: 512, maxBodyBytes: 1024)

    /// Found by the fuzzer: empty lines before a request counted toward the head's size limit
    /// when they arrived in pieces (a CR, then its LF) but not when they arrived whole, so the
    /// same bytes were a 431 or a valid request depending on how the network split them.
    @Test func leadingEmptyLinesNeverCountTowardTheHeadLimit() {
        let limits = HTTPParserLimits(maxHeaderBytes: 64, maxBodyBytes: 16)
        let head = "GET / HTTP/1.1\r\nHost: h\r\nX: "
        // A head of exactly the limit, after two empty lines.
        let exact = "\r\n\r\n" + head + String(repeating: "a", count: 64 - head.utf8.count - 4) + "\r\n\r\n"
        let bytes = Array(exact.utf8)
        #expect(requests(parse(bytes, limits: limits)) == 1)
        expectSplitInvariant(bytes, limits: limits)
        // The same head still incomplete: more bytes needed, never a 431, however split.
        let unfinished = Array(bytes.dropLast(2))
        #expect(parse(unfinished, limits: limits).isEmpty)
        expectSplitInvariant(unfinished, limits: limits)
        // Many empty lines, byte by byte, then a request.
        let many = Array((String(repeating: "\r\n", count: 100) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n").utf8)
        #expect(requests(parse(many, pieces: Array(repeating: 1, count: many.count), limits: limits)) == 1)
        // A CR alone is still a bare CR, whatever follows it.
        #expect(parse(Array("\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8), pieces: [1, 1], limits: limits) == [.error(400)])
        #expect(parse(Array("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8), pieces: [1], limits: limits).count == 1)
    }

    /// The fuzzer's crash input itself.
    @Test func fuzzerInputLeadingCRLFAtLimit() throws {
        let bytes = try #require(Self.corpus().first { $0.name == "regression-leading-crlf-at-limit" }).bytes
        expectSplitInvariant(bytes, limits: Self.fuzzLimits)
    }

    /// Every input of the committed corpus parses alike whole, byte by byte and split anywhere.
    @Test func corpusSplitsAgree() throws {
        let corpus = try Self.corpus()
        #expect(corpus.count >= 20)
        for (_, bytes) in corpus {
            expectSplitInvariant(bytes, limits: Self.fuzzLimits)
        }
    }

    static func corpus() throws -> [(name: String, bytes: [UInt8])] {
        let directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/http-parser")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        return try names.map { name in
            (name, Array(try Data(contentsOf: directory.appendingPathComponent(name))))
        }
    }
}
