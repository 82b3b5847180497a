/// What a decoder reports to as it decodes: the fast counterpart of `(ReplayItem) -> Void`.
/// Records arrive as borrowed views (no Strings); a generic visitor passed `inout` costs no
/// closure context and no exclusivity check per record.
protocol ReplayVisitor {
    /// A valid record starting at `offset`; its bytes are valid only during this call.
    mutating func record(_ record: RecordView, offset: Int64)
    /// Bytes that are valid but carry no state (comments, headers, old coordinate lines).
    mutating func ignored(offset: Int64)
    /// Bytes that could not be used, with the reason.
    mutating func skipped(offset: Int64, length: Int64, reason: String)
}

/// Turns what a decoder reports into `ReplayItem`s for a closure (the public decoder API).
struct ItemVisitor: ReplayVisitor {
    let visit: (ReplayItem) -> Void

    mutating func record(_ record: RecordView, offset: Int64) { visit(.record(record.record, offset: offset)) }
    mutating func ignored(offset: Int64) { visit(.ignored(offset: offset)) }
    mutating func skipped(offset: Int64, length: Int64, reason: String) {
        visit(.skipped(offset: offset, length: length, reason: reason))
    }

    /// Runs `body` with a visitor that calls `visit`.
    static func with<R>(_ visit: (ReplayItem) -> Void, _ body: (inout ItemVisitor) -> R) -> R {
        withoutActuallyEscaping(visit) { visit in
            var visitor = ItemVisitor(visit: visit)
            return body(&visitor)
        }
    }
}
