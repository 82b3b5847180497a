import SnapshotCore

/// Writes a `SnapshotEvent` as the JSON the events routes accept (openapi.yaml's `Event`): the
/// inverse of `EventDecoder`, for clients (`snapshotd forward`). Optional fields are left out
/// when they hold their defaults (no `ltime`, an empty payload, `coalesce` false).
public enum EventEncoder {
    public static func json(_ event: SnapshotEvent) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        append(#"{"type":""# + event.kind.name + #"""#)
        switch event {
        case .member(_, let members, let ltime):
            append(#","members":["#)
            for (index, member) in members.enumerated() {
                if index > 0 { append(",") }
                append(#"{"name":"#)
                appendString(member.name, to: &out)
                append(#","addr":""# + member.address.goString + #"","port":\#(member.port)}"#)
            }
            append("]")
            if let ltime { append(#","ltime":\#(ltime)"#) }
            append("}")
        case .user(let ltime, let name, let payload, let coalesce):
            append(#","ltime":\#(ltime),"name":"#)
            appendString(name, to: &out)
            if !payload.isEmpty { append(#","payload":""# + base64(payload) + #"""#) }
            if coalesce { append(#","coalesce":true"#) }
            append("}")
        case .query(let ltime, let name):
            append(#","ltime":\#(ltime),"name":"#)
            appendString(name, to: &out)
            append("}")
        case .clock(let ltime):
            append(#","ltime":\#(ltime)}"#)
        }
        return out
    }

    /// A JSON string: `"`, `\` and the control characters escaped, everything else as UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        func hex(_ digit: UInt8) -> UInt8 { digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10 }
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20, 0x7F:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex(byte >> 4))
                out.append(hex(byte & 0x0F))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Standard base64 with padding.
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
