/// Why a snapshot file could not be opened or read.
public enum SnapshotFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file layer failed.
    case io(FileIOError)
    /// The file is neither a v1 nor a v2 snapshot: not one byte of it replays. It is left as it
    /// is, never rewritten.
    case notASnapshot(path: String, bytes: Int64)

    public var description: String {
        switch self {
        case .io(let error): error.description
        case .notASnapshot(let path, let bytes):
            "\(path) is neither a v1 nor a v2 snapshot (\(bytes) bytes, no valid record): left unchanged"
        }
    }
}
