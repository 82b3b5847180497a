import HashTreeCollections

/// The alive set while a file replays: node name to address, keyed by the names' bytes, in an
/// open-addressing hash table. Records are many and names few, so replay updates this table
/// (no Strings, no persistent-tree inserts) and builds the `TreeDictionary` once, at the end,
/// for the nodes still alive.
///
/// The table copies the bytes it keeps (a name when it is first seen, an address when it
/// changes) into its own arena, so the records it is given need stay valid only for the call.
///
/// It takes ASCII names only: byte equality is String equality for ASCII, not for all UTF-8
/// (Strings compare by canonical equivalence, and "K" equals the Kelvin sign U+212A), so any
/// other name is refused and replay goes on with Strings.
struct AliveTable {
    private struct Entry {
        var hash: UInt64
        var nameStart: Int
        var nameCount: Int
        var addressStart: Int
        var addressCount: Int
        /// Arena bytes reserved for the address: a new one no longer than this is written over it.
        var addressCapacity: Int
        /// False after a not-alive: the entry stays (its name is likely to come back).
        var alive: Bool
    }

    /// Names and addresses.
    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// 0 when empty, else the low 32 bits of the name's hash above the entry's index + 1.
    private var slots: [UInt64]
    /// log2 of `slots.count`: the slot of a hash is its top `bits` bits.
    private var bits: Int
    /// Per table, so that names cannot be chosen to collide.
    private let seed: UInt64

    private static let initialBits = 6

    init() {
        seed = UInt64.random(in: .min ... .max)
        bits = Self.initialBits
        slots = [UInt64](repeating: 0, count: 1 << Self.initialBits)
    }

    /// `name` is alive at `address`. False (and nothing changed) when the name is not ASCII.
    mutating func setAlive(_ name: UnsafeRawBufferPointer, address: UnsafeRawBufferPointer) -> Bool {
        guard let hash = hash(name) else { return false }
        if let index = find(name, hash) {
            // Most records repeat what the table holds: write (and pay the array's uniqueness
            // check) only for a change.
            if !entries[index].alive { entries[index].alive = true }
            updateAddress(of: index, address)
            return true
        }
        guard entries.count < Int(UInt32.max) else { return false }
        insert(name, address, hash)
        return true
    }

    /// `name` is not alive. False (and nothing changed) when the name is not ASCII.
    mutating func setNotAlive(_ name: UnsafeRawBufferPointer) -> Bool {
        guard let hash = hash(name) else { return false }
        if let index = find(name, hash), entries[index].alive { entries[index].alive = false }
        return true
    }

    /// Empties the table (a leave), giving back its slots.
    mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        bits = Self.initialBits
        slots = [UInt64](repeating: 0, count: 1 << Self.initialBits)
    }

    /// The nodes alive, as Strings.
    func aliveNodes() -> TreeDictionary<String, String> {
        var nodes: TreeDictionary<String, String> = [:]
        arena.withUnsafeBytes { raw in
            for entry in entries where entry.alive {
                let name = UnsafeRawBufferPointer(rebasing: raw[entry.nameStart..<(entry.nameStart + entry.nameCount)])
                let address = UnsafeRawBufferPointer(rebasing: raw[entry.addressStart..<(entry.addressStart + entry.addressCount)])
                nodes[String(decoding: name, as: UTF8.self)] = String(decoding: address, as: UTF8.self)
            }
        }
        return nodes
    }

    /// A seeded multiply-rotate hash of the bytes, read 8 (or 4) at a time; nil when one is
    /// not ASCII. Names are short: no loop over single bytes.
    @inline(__always)
    private func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        let count = bytes.count
        var h = seed ^ (UInt64(count) &* k)
        var high: UInt64 = 0
        func mix(_ word: UInt64) {
            high |= word
            h = ((h ^ word) &* k).rotateLeft29
        }
        if count >= 8 {
            // Whole words, the last one overlapping the one before when the count is not a multiple of 8.
            var i = 0
            while i < count - 8 {
                mix(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            mix(bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
        } else if count >= 4 {
            let first = UInt64(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let last = UInt64(bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            mix(first | last << 32)
        } else if count > 0 {
            // The first, middle and last bytes: all of them, for 3 or fewer.
            mix(UInt64(bytes[0]) | UInt64(bytes[count / 2]) << 8 | UInt64(bytes[count - 1]) << 16)
        }
        guard high & 0x8080_8080_8080_8080 == 0 else { return nil }
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 33)
    }

    /// Whether `count` bytes at `a` and `b` are equal: `memcmp` without the call, for short names.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        func word(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        func half(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 { p.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        if count >= 8 {
            var i = 0
            while i < count - 8 {
                if word(a, i) != word(b, i) { return false }
                i += 8
            }
            return word(a, count - 8) == word(b, count - 8)
        }
        if count >= 4 { return half(a, 0) == half(b, 0) && half(a, count - 4) == half(b, count - 4) }
        for i in 0..<count where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) {
            return false
        }
        return true
    }

    private func slot(of hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash >> UInt64(64 - bits))
    }

    @inline(__always)
    private func find(_ name: UnsafeRawBufferPointer, _ hash: UInt64) -> Int? {
        let tag = hash & 0xFFFF_FFFF
        let mask = slots.count - 1
        var s = slot(of: hash)
        while true {
            let value = slots[s]
            if value == 0 { return nil }
            if value >> 32 == tag {
                let index = Int(truncatingIfNeeded: value & 0xFFFF_FFFF) - 1
                let entry = entries[index]
                if entry.nameCount == name.count && equal(name, atArena: entry.nameStart) { return index }
            }
            s = (s + 1) & mask
        }
    }

    @inline(__always)
    private func equal(_ bytes: UnsafeRawBufferPointer, atArena start: Int) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }  // both empty
        return arena.withUnsafeBytes { raw in
            guard let arenaBase = raw.baseAddress else { return false }
            return Self.equal(arenaBase + start, base, count: bytes.count)
        }
    }

    @inline(__always)
    private mutating func updateAddress(of index: Int, _ address: UnsafeRawBufferPointer) {
        let entry = entries[index]
        if entry.addressCount == address.count && equal(address, atArena: entry.addressStart) { return }
        if address.count <= entry.addressCapacity {
            arena.withUnsafeMutableBytes { raw in
                UnsafeMutableRawBufferPointer(rebasing: raw[entry.addressStart..<(entry.addressStart + address.count)]).copyMemory(from: address)
            }
        } else {
            entries[index].addressStart = arena.count
            entries[index].addressCapacity = address.count
            arena.append(contentsOf: address)
        }
        entries[index].addressCount = address.count
    }

    private mutating func insert(_ name: UnsafeRawBufferPointer, _ address: UnsafeRawBufferPointer, _ hash: UInt64) {
        if (entries.count + 1) * 2 > slots.count { grow() }
        let nameStart = arena.count
        arena.append(contentsOf: name)
        let addressStart = arena.count
        arena.append(contentsOf: address)
        entries.append(Entry(hash: hash, nameStart: nameStart, nameCount: name.count, addressStart: addressStart,
                             addressCount: address.count, addressCapacity: address.count, alive: true))
        place(entries.count - 1, hash)
    }

    /// Puts entry `index` in the first free slot from its hash's.
    private mutating func place(_ index: Int, _ hash: UInt64) {
        let mask = slots.count - 1
        var s = slot(of: hash)
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = (hash & 0xFFFF_FFFF) << 32 | UInt64(index + 1)
    }

    private mutating func grow() {
        bits += 1
        slots = [UInt64](repeating: 0, count: 1 << bits)
        for index in entries.indices { place(index, entries[index].hash) }
    }
}

private extension UInt64 {
    var rotateLeft29: UInt64 { self << 29 | self >> 35 }
}
