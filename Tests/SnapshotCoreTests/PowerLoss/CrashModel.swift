import TestSupport

/// What a disk holds after a power loss: full paths to bytes.
struct DiskImage: Sendable, Equatable {
    var files: [String: [UInt8]] = [:]
}

/// What of a page cache's unsynced state a power loss leaves on the disk. Seeded: the same
/// generator gives the same image.
///
/// - A file keeps its durable bytes plus a prefix of its unsynced writes and truncations, in
///   the order they were made (pages reach the disk in no promised order; a prefix is the
///   conservative model for an append-only file). Drawn: a quarter of the crashes keep none of
///   them, a quarter all, the rest a random count; then the next write, if any, is cut at a
///   random byte, and a third of the cut ones have, over the rest of the write.s range, what the file.s size says is
///   there while its data never came: zeros, or stale garbage (never a line feed, so that a v1
///   line can only end where the engine ended one: v1 has no checksums to tell garbage from a
///   record, and says so).
/// - A directory keeps its durable entries plus a prefix of its unsynced creates, renames and
///   unlinks (a journal commits them in order): half of the crashes undo all of them, which is
///   the rule that matters (an unsynced rename reverts, the old name points to the old inode
///   again and the new name to what it held; an unsynced create disappears; an unsynced unlink
///   comes back), a quarter keep them all, the rest a random count.
/// - A name gives the image its inode's bytes, whichever names it had meanwhile.
enum CrashModel {
    static func image(inodes: [Int: PageCacheFileSystem.Inode], directories: [String: PageCacheFileSystem.Directory],
                      using generator: inout SplitMix64) -> DiskImage {
        var image = DiskImage()
        var survivors: [Int: [UInt8]] = [:]
        // Sorted, so that the same seed draws the same choices.
        for path in directories.keys.sorted() {
            guard let directory = directories[path] else { continue }
            let entries = surviving(directory, using: &generator)
            for (name, inode) in entries.sorted(by: { $0.key < $1.key }) {
                if survivors[inode] == nil, let node = inodes[inode] {
                    survivors[inode] = surviving(node, using: &generator)
                }
                image.files[(path == "/" ? "" : path) + "/" + name] = survivors[inode] ?? []
            }
        }
        return image
    }

    static func surviving(_ directory: PageCacheFileSystem.Directory, using generator: inout SplitMix64) -> [String: Int] {
        let operations = directory.unsynced
        var entries = directory.durable
        guard !operations.isEmpty else { return entries }
        let kept: Int
        switch generator.next() % 4 {
        case 0, 1: kept = 0
        case 2: kept = operations.count
        default: kept = Int(generator.next() % UInt64(operations.count + 1))
        }
        for operation in operations.prefix(kept) {
            switch operation {
            case .create(let name, let inode): entries[name] = inode
            case .rename(let from, let to):
                entries[to] = entries[from]
                entries[from] = nil
            case .unlink(let name): entries[name] = nil
            }
        }
        return entries
    }

    static func surviving(_ inode: PageCacheFileSystem.Inode, using generator: inout SplitMix64) -> [UInt8] {
        let operations = inode.unsynced
        var bytes = inode.durable
        guard !operations.isEmpty else { return bytes }
        let kept: Int
        var cut = false
        switch generator.next() % 4 {
        case 0: kept = 0
        case 1: kept = operations.count
        default:
            kept = Int(generator.next() % UInt64(operations.count))
            cut = true
        }
        for operation in operations.prefix(kept) { apply(operation, to: &bytes) }
        guard cut, case .write(let offset, let data) = operations[kept], !data.isEmpty else { return bytes }
        let length = Int(generator.next() % UInt64(data.count))
        apply(.write(offset: offset, bytes: Array(data.prefix(length))), to: &bytes)
        // Over the rest of the write's range: what was there (an append: nothing), zeros, or garbage.
        switch generator.next() % 6 {
        case 0:
            apply(.write(offset: offset + length, bytes: Array(repeating: 0, count: data.count - length)), to: &bytes)
        case 1:
            apply(.write(offset: offset + length, bytes: (length..<data.count).map { _ in
                let byte = UInt8(truncatingIfNeeded: generator.next())
                return byte == 0x0A ? 0x0B : byte
            }), to: &bytes)
        default:
            break
        }
        return bytes
    }

    static func apply(_ operation: PageCacheFileSystem.FileOperation, to bytes: inout [UInt8]) {
        switch operation {
        case .write(let offset, let data):
            if bytes.count < offset { bytes.append(contentsOf: repeatElement(0, count: offset - bytes.count)) }
            let overlap = min(data.count, bytes.count - offset)
            if overlap > 0 { bytes.replaceSubrange(offset..<(offset + overlap), with: data.prefix(overlap)) }
            if overlap < data.count { bytes.append(contentsOf: data[overlap...]) }
        case .truncate(let length):
            if length < bytes.count {
                bytes.removeSubrange(length...)
            } else {
                bytes.append(contentsOf: repeatElement(0, count: length - bytes.count))
            }
        }
    }
}
