// libFuzzer entry for the event JSON decoder: Sources/SnapshotService/EventDecoder.swift (compiled
// into this module) over the CEventJSON C++ target (simdjson), built by Tests/Fuzz/fuzz.sh with
// SnapshotCore's event model as a module of its own.
//
// The first input byte picks the framing (even: application/json, odd: NDJSON); the rest is the
// body. Besides "never traps" (ASan in the C++ code too), each input is checked for:
// - a decoder reused across inputs (buffers warm, possibly trimmed) answers exactly as a fresh one;
// - an accepted body holds at least one event and every event is valid;
// - an accepted NDJSON body, rewritten as one JSON array of its lines, decodes to the same events;
// - an accepted application/json body is valid JSON by Foundation's JSONSerialization too.
// A violated property calls fatalError, which libFuzzer reports as a crash with the input.
import Foundation
import SnapshotCore

/// One decoder for the whole run, so that buffer reuse between requests is exercised.
nonisolated(unsafe) private let reusedDecoder = EventDecoder()

private func outcome(_ decoder: EventDecoder, _ body: UnsafeRawBufferPointer, _ format: EventDecoder.Format) -> Result<[SnapshotEvent], EventDecodingError> {
    Result { () throws(EventDecodingError) in try decoder.decode(body, format: format) }
}

private func isJSONSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}

@_cdecl("LLVMFuzzerTestOneInput")
public func eventJSONFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let format: EventDecoder.Format = data[0] & 1 == 0 ? .single : .ndjson
    let body = UnsafeRawBufferPointer(start: data + 1, count: size - 1)

    let fresh = outcome(EventDecoder(), body, format)
    let reused = outcome(reusedDecoder, body, format)
    guard fresh == reused else { fatalError("reused decoder differs: \(reused) vs fresh \(fresh)") }

    switch fresh {
    case .failure(let error):
        guard !error.reason.isEmpty else { fatalError("empty error reason") }
        if let index = error.eventIndex, index < 0 { fatalError("negative event index") }
    case .success(let events):
        guard !events.isEmpty else { fatalError("accepted a body without events") }
        for event in events {
            if let reason = event.validationError { fatalError("accepted an invalid event: \(reason)") }
        }
        let bytes = Array(body)
        switch format {
        case .ndjson:
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                .filter { $0.contains { !isJSONSpace($0) } }
            var array: [UInt8] = [UInt8(ascii: "[")]
            for (index, line) in lines.enumerated() {
                if index > 0 { array.append(UInt8(ascii: ",")) }
                array.append(contentsOf: line)
            }
            array.append(UInt8(ascii: "]"))
            let asArray = array.withUnsafeBytes { outcome(reusedDecoder, $0, .single) }
            guard asArray == .success(events) else {
                fatalError("NDJSON accepted as \(events), its lines as an array: \(asArray)")
            }
        case .single:
            do {
                _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            } catch {
                fatalError("accepted a body JSONSerialization refuses (\(error)): \(events)")
            }
        }
    }
    return 0
}
