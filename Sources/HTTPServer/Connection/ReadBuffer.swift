/// A 64 KiB scratch buffer that socket reads land in before the parser copies what it needs.
///
/// One exists per connection queue and is shared by the connections pinned to that serial
/// queue: they never run at the same time, and no connection keeps a reference into the
/// buffer past the read call that filled it. This keeps memory per idle connection small.
final class ReadBuffer: @unchecked Sendable {
    static let size = 64 * 1024

    let bytes: UnsafeMutableRawBufferPointer

    init() {
        bytes = .allocate(byteCount: Self.size, alignment: 16)
    }

    deinit {
        bytes.deallocate()
    }
}
