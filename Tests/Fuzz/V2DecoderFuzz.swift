// libFuzzer entry for the v2 snapshot decoder (Sources/SnapshotCore/V2Decoder.swift and the format
// files it needs, compiled into this module with the CCRC32C C file by Tests/Fuzz/fuzz.sh).
//
// The input is a snapshot file. Besides "never traps", each input is checked for:
// - feeding it whole, and in pieces of sizes taken from the input itself, gives the same items,
//   valid length, creation time and log position (replay reads the file in chunks);
// - the valid length is within the file; records come in increasing offsets inside the valid
//   prefix; skipped regions lie within the file, in order, without overlapping records;
// - every record decoded re-encodes to bytes that decode back to the same record, and a file
//   of a fresh header (with the log position found) plus those records decodes cleanly to the
//   same records and position.
// A violated property calls fatalError, which libFuzzer reports as a crash with the input.

private struct Decoded: Equatable {
    var items: [ReplayItem] = []
    var validEnd: Int64 = 0
    var createdAt: UInt64?
    var logPosition: UInt64?
}

private func decode(_ bytes: UnsafeRawBufferPointer, pieces: [Int]) -> Decoded {
    var decoder = V2Decoder()
    var result = Decoded()
    var offset = 0
    var piece = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + max(1, pieces[piece % pieces.count]))
        piece += 1
        decoder.feed(UnsafeRawBufferPointer(rebasing: bytes[offset..<end])) { result.items.append($0) }
        offset = end
    }
    result.validEnd = decoder.finish { result.items.append($0) }
    result.createdAt = decoder.createdAt
    result.logPosition = decoder.logPosition
    return result
}

private func checkLayout(_ decoded: Decoded, fileSize: Int) {
    let size = Int64(fileSize)
    guard decoded.validEnd >= 0, decoded.validEnd <= size else { fatalError("valid length \(decoded.validEnd) of \(size)") }
    var lastEnd: Int64 = 0
    for item in decoded.items {
        switch item {
        case .record(_, let offset):
            guard offset >= lastEnd, offset < decoded.validEnd else {
                fatalError("record at \(offset): previous end \(lastEnd), valid length \(decoded.validEnd)")
            }
            lastEnd = offset + 1
        case .ignored(let offset):
            guard offset == 0 else { fatalError("ignored bytes at \(offset)") }
        case .skipped(let offset, let length, _):
            // An empty input is reported as an empty "incomplete header"; the replayer never
            // hands the decoder an empty file, so only that case may be empty.
            guard offset >= 0, length > 0 || size == 0, offset + length <= size else {
                fatalError("skipped \(offset)+\(length) of \(size)")
            }
            guard offset >= lastEnd || offset == 0 else { fatalError("skipped \(offset) before \(lastEnd)") }
            lastEnd = max(lastEnd, offset + length)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func v2DecoderFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let whole = decode(bytes, pieces: [max(1, size)])
    checkLayout(whole, fileSize: size)
    var pieces = bytes.prefix(6).map { Int($0) % 40 + 1 }
    if pieces.isEmpty { pieces = [1] }
    let split = decode(bytes, pieces: pieces)
    guard split == whole else { fatalError("pieces \(pieces) give \(split.items) not \(whole.items)") }

    // Round trip of what was found.
    let records = whole.items.compactMap { item -> SnapshotRecord? in
        if case .record(let record, _) = item { return record }
        return nil
    }
    var file: [UInt8] = []
    V2Format.header(createdAt: 1_700_000_000_000_000_000, logPosition: whole.logPosition, into: &file)
    for record in records {
        var one: [UInt8] = []
        V2Format.encode(record, into: &one)
        guard let again = one.withUnsafeBytes({ raw -> SnapshotRecord? in
            V2Format.decodePayload(type: raw[4], UnsafeRawBufferPointer(rebasing: raw[5..<(raw.count - 4)]))
        }), again == record else { fatalError("\(record) does not survive encoding") }
        file += one
    }
    let rebuilt = file.withUnsafeBytes { decode($0, pieces: [7]) }
    let clean = rebuilt.items.allSatisfy { if case .skipped = $0 { return false } else { return true } }
    let rebuiltRecords = rebuilt.items.compactMap { item -> SnapshotRecord? in
        if case .record(let record, _) = item { return record }
        return nil
    }
    guard clean, rebuiltRecords == records, rebuilt.validEnd == Int64(file.count),
          rebuilt.createdAt == 1_700_000_000_000_000_000, rebuilt.logPosition == whole.logPosition
    else { fatalError("rebuilt file of \(records.count) records decodes as \(rebuilt)") }
    return 0
}
