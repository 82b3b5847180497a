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
    /// One slot of the open-addressing table, 16 bytes, holding its entry itself: a lookup
    /// reads the slot, then the name's bytes (and the address beside them) in the arena, two
    /// dependent loads (a separate entry array made it three; recovery's profile was those loads).
    private struct Slot {
        /// The low 32 bits of the name's hash with the lowest bit set; 0: an empty slot.
        var tag: UInt32
        var nameStart: UInt32
        var addressStart: UInt32
        /// The name's length, and `aliveBit` while alive (a not-alive name keeps its slot: it is
        /// likely to come back).
        var nameCountAndAlive: UInt16
        var addressCount: UInt8
        /// Arena bytes reserved for the address: a new one no longer than this is written over it.
        var addressCapacity: UInt8

        static let aliveBit: UInt16 = 0x8000
        var nameCount: Int { Int(nameCountAndAlive & ~Self.aliveBit) }
        var alive: Bool { nameCountAndAlive & Self.aliveBit != 0 }
    }

    /// The longest name and address the table keeps; longer ones are refused (replay goes on with Strings).
    static let maxNameCount = 0x3FFF
    static let maxAddressCount = Int(UInt8.max)

    /// Names and addresses (a name's address follows it, until it outgrows its place).
    private var arena: [UInt8] = []
    private var slots: [Slot]
    /// Occupied slots (names ever set since the last `removeAll`).
    private(set) var count = 0
    /// log2 of `slots.count`: the slot of a hash is its top `bits` bits.
    private var bits: Int
    /// Per table, so that names cannot be chosen to collide.
    private let seed: UInt64
    /// A not-alive name it has not seen is kept too (as not alive): the table then holds what
    /// records change on top of another table, whose names it need not hold (`forEachChange`).
    let keepsRemovals: Bool

    private static let initialBits = 6
    private static let empty = Slot(tag: 0, nameStart: 0, addressStart: 0, nameCountAndAlive: 0, addressCount: 0, addressCapacity: 0)

    /// `capacity`: the names expected, so that the slots are made once rather than doubled on
    /// the way (a checkpoint of 100,000 names: its doublings were 9% of recovery's samples).
    init(keepsRemovals: Bool = false, capacity: Int = 0) {
        self.keepsRemovals = keepsRemovals
        seed = UInt64.random(in: .min ... .max)
        // More than twice the names: `insert` doubles the slots when half of them are used.
        var bits = Self.initialBits
        while bits < Self.maxReservedBits && (1 << bits) <= 2 * capacity { bits += 1 }
        self.bits = bits
        slots = [Slot](repeating: Self.empty, count: 1 << bits)
        arena.reserveCapacity(min(capacity, 1 << (Self.maxReservedBits - 1)) * 24)  // a name and its address: ~24 bytes
    }

    /// The most slots a capacity reserves (2^20, 16 MiB, for 512Ki names): a capacity is an
    /// estimate from a file's size (a large file of other records must not make a huge table),
    /// and the table still grows past it.
    private static let maxReservedBits = 20

    /// `name` is alive at `address`. False (and nothing changed) when the name is not ASCII, or
    /// the name or address longer than the table keeps.
    mutating func setAlive(_ name: UnsafeRawBufferPointer, address: UnsafeRawBufferPointer) -> Bool {
        guard name.count <= Self.maxNameCount, address.count <= Self.maxAddressCount, let hash = hash(name) else { return false }
        let found = find(name, hash)
        if found.found {
            // Most records repeat what the table holds: write (and pay the array's uniqueness
            // check) only for a change.
            let slot = slots[found.index]
            if !slot.alive { slots[found.index].nameCountAndAlive |= Slot.aliveBit }
            updateAddress(of: found.index, slot, address)
            return true
        }
        guard arena.count + name.count + address.count <= Int(UInt32.max) else { return false }
        insert(name, address, hash, at: found.index)
        return true
    }

    /// `name` is not alive. False (and nothing changed) when the name is not ASCII.
    mutating func setNotAlive(_ name: UnsafeRawBufferPointer) -> Bool {
        // A name longer than the table keeps is not in it.
        guard let hash = hash(name) else { return false }
        guard name.count <= Self.maxNameCount else { return true }
        let found = find(name, hash)
        if found.found, slots[found.index].alive {
            slots[found.index].nameCountAndAlive &= ~Slot.aliveBit
        } else if !found.found && keepsRemovals {
            guard arena.count + name.count <= Int(UInt32.max) else { return false }
            insert(name, UnsafeRawBufferPointer(start: nil, count: 0), hash, at: found.index, alive: false)
        }
        return true
    }

    /// Empties the table (a leave), giving back its slots.
    mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        count = 0
        bits = Self.initialBits
        slots = [Slot](repeating: Self.empty, count: 1 << Self.initialBits)
    }

    /// The nodes alive, as Strings.
    func aliveNodes() -> TreeDictionary<String, String> {
        arena.withUnsafeBytes { raw in
            // The names are unique (a name is looked up before it is inserted, and byte equality
            // is String equality for ASCII): the tree takes them without a lookup each.
            TreeDictionary(uniqueKeysWithValues: slots.lazy.filter { $0.tag != 0 && $0.alive }.map { slot in
                (String(decoding: Self.name(of: slot, in: raw), as: UTF8.self),
                 String(decoding: Self.address(of: slot, in: raw), as: UTF8.self))
            })
        }
    }

    /// How many names are alive (a scan of the slots).
    var aliveCount: Int {
        slots.reduce(0) { $0 + ($1.tag != 0 && $1.alive ? 1 : 0) }
    }

    /// The address `name` is alive at; nil when it is not alive, not here, or not ASCII.
    func aliveAddress(of name: String) -> String? {
        var name = name
        return name.withUTF8 { name in
            let name = UnsafeRawBufferPointer(name)
            guard name.count <= Self.maxNameCount, let hash = hash(name) else { return nil }
            let found = find(name, hash)
            guard found.found, slots[found.index].alive else { return nil }
            return arena.withUnsafeBytes { String(decoding: Self.address(of: slots[found.index], in: $0), as: UTF8.self) }
        }
    }

    /// The first alive name at or after slot `index`, its address, and the slot to go on from;
    /// nil past the last (iteration in slot order).
    func aliveEntry(from index: Int) -> (name: String, address: String, next: Int)? {
        var index = index
        while index < slots.count {
            let slot = slots[index]
            index += 1
            guard slot.tag != 0 && slot.alive else { continue }
            return arena.withUnsafeBytes { raw in
                (String(decoding: Self.name(of: slot, in: raw), as: UTF8.self),
                 String(decoding: Self.address(of: slot, in: raw), as: UTF8.self), index)
            }
        }
        return nil
    }

    /// Every name the table holds, with its address, or nil for a name not alive (kept by
    /// `keepsRemovals`, or alive once since the last `removeAll`), in slot order.
    func forEachEntry(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        arena.withUnsafeBytes { raw in
            for slot in slots where slot.tag != 0 {
                body(Self.name(of: slot, in: raw), slot.alive ? Self.address(of: slot, in: raw) : nil)
            }
        }
    }

    /// How the alive set differs from `earlier`'s, where this table `keepsRemovals` and was
    /// given the records after `earlier`'s (every name they set is here; a name they do not set
    /// is as `earlier` has it, and is not reported): `body(name, address)` for each name alive
    /// here and not in `earlier` or at another address there, `body(name, nil)` for each name
    /// alive there and not here.
    func forEachChange(since earlier: AliveTable, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        assert(keepsRemovals, "a table without its removals cannot say what changed")
        arena.withUnsafeBytes { raw in
            earlier.arena.withUnsafeBytes { earlierRaw in
                for slot in slots where slot.tag != 0 {
                    let name = Self.name(of: slot, in: raw)
                    var before: UnsafeRawBufferPointer?  // the address in `earlier`, when alive there
                    if let hash = earlier.hash(name) {
                        let found = earlier.find(name, hash)
                        if found.found, earlier.slots[found.index].alive {
                            before = Self.address(of: earlier.slots[found.index], in: earlierRaw)
                        }
                    }
                    if slot.alive {
                        let address = Self.address(of: slot, in: raw)
                        if let before, before.elementsEqual(address) { continue }
                        body(name, address)
                    } else if before != nil {
                        body(name, nil)
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func name(of slot: Slot, in arena: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: arena[Int(slot.nameStart)..<(Int(slot.nameStart) + slot.nameCount)])
    }

    @inline(__always)
    private static func address(of slot: Slot, in arena: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: arena[Int(slot.addressStart)..<(Int(slot.addressStart) + Int(slot.addressCount))])
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

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: hash) | 1
    }

    /// The slot holding `name` (found), or the empty slot where it goes.
    @inline(__always)
    private func find(_ name: UnsafeRawBufferPointer, _ hash: UInt64) -> (index: Int, found: Bool) {
        let tag = Self.tag(hash)
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBytes { arena in
                let mask = slots.count - 1
                var s = Int(truncatingIfNeeded: hash >> UInt64(64 - bits))
                while true {
                    let slot = slots[s]
                    if slot.tag == 0 { return (s, false) }
                    if slot.tag == tag && slot.nameCount == name.count
                        && Self.equal(name, in: arena, at: Int(slot.nameStart)) {
                        return (s, true)
                    }
                    s = (s + 1) & mask
                }
            }
        }
    }

    /// Whether `bytes` are at `start` in `arena` (which holds them all: the caller's slot says so).
    @inline(__always)
    private static func equal(_ bytes: UnsafeRawBufferPointer, in arena: UnsafeRawBufferPointer, at start: Int) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }  // both empty
        guard let arenaBase = arena.baseAddress, start + bytes.count <= arena.count else { return false }
        return equal(arenaBase + start, base, count: bytes.count)
    }

    @inline(__always)
    private mutating func updateAddress(of index: Int, _ slot: Slot, _ address: UnsafeRawBufferPointer) {
        let start = Int(slot.addressStart)
        if Int(slot.addressCount) == address.count && arena.withUnsafeBytes({ Self.equal(address, in: $0, at: start) }) { return }
        if address.count <= Int(slot.addressCapacity) {
            arena.withUnsafeMutableBytes { raw in
                UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + address.count)]).copyMemory(from: address)
            }
        } else {
            slots[index].addressStart = UInt32(arena.count)
            slots[index].addressCapacity = UInt8(address.count)
            arena.append(contentsOf: address)
        }
        slots[index].addressCount = UInt8(address.count)
    }

    private mutating func insert(_ name: UnsafeRawBufferPointer, _ address: UnsafeRawBufferPointer, _ hash: UInt64,
                                 at index: Int, alive: Bool = true) {
        let nameStart = arena.count
        arena.append(contentsOf: name)
        let addressStart = arena.count
        arena.append(contentsOf: address)
        let slot = Slot(tag: Self.tag(hash), nameStart: UInt32(nameStart), addressStart: UInt32(addressStart),
                        nameCountAndAlive: UInt16(name.count) | (alive ? Slot.aliveBit : 0),
                        addressCount: UInt8(address.count), addressCapacity: UInt8(address.count))
        count += 1
        if count * 2 > slots.count {
            grow(adding: slot, hash)
        } else {
            slots[index] = slot
        }
    }

    /// Doubles the slots, placing every entry again (its hash made again from its name's bytes)
    /// and `new` (of `newHash`).
    private mutating func grow(adding new: Slot, _ newHash: UInt64) {
        let old = slots
        bits += 1
        slots = [Slot](repeating: Self.empty, count: 1 << bits)
        place(new, newHash)
        arena.withUnsafeBytes { raw in
            for slot in old where slot.tag != 0 {
                let name = UnsafeRawBufferPointer(rebasing: raw[Int(slot.nameStart)..<(Int(slot.nameStart) + slot.nameCount)])
                // ASCII already: the hash is there.
                place(slot, hash(name) ?? 0)
            }
        }
    }

    /// Puts `slot` in the first free slot from its hash's.
    private mutating func place(_ slot: Slot, _ hash: UInt64) {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: hash >> UInt64(64 - bits))
        while slots[s].tag != 0 { s = (s + 1) & mask }
        slots[s] = slot
    }
}

private extension UInt64 {
    var rotateLeft29: UInt64 { self << 29 | self >> 35 }
}
