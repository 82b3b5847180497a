import HashTreeCollections
import TestSupport
import Testing
@testable import SnapshotCore

/// Recovery's large alive set kept as the table it replayed into, the log's records on a table
/// of their own (`StateBuilder.freezeAliveSet`, `AliveTable.forEachChange(since:)`): the state is
/// the one a replay onto one table gives, whatever the records after the freeze.
struct FrozenAliveSetTests {
    static func alive(_ table: inout AliveTable, _ name: String, _ address: String) {
        let ok = Array(name.utf8).withUnsafeBytes { name in Array(address.utf8).withUnsafeBytes { table.setAlive(name, address: $0) } }
        #expect(ok)
    }

    static func notAlive(_ table: inout AliveTable, _ name: String) {
        let ok = Array(name.utf8).withUnsafeBytes { table.setNotAlive($0) }
        #expect(ok)
    }

    /// The changes `later` reports (it was given the records after `earlier`'s), applied to
    /// `earlier`'s alive set, give `whole`'s (given every record).
    @discardableResult
    static func expectChangesRebuild(_ later: AliveTable, since earlier: AliveTable, whole: AliveTable) -> Int {
        var nodes = earlier.aliveNodes()
        var changes = 0
        later.forEachChange(since: earlier) { name, address in
            nodes[String(decoding: name, as: UTF8.self)] = address.map { String(decoding: $0, as: UTF8.self) }
            changes += 1
        }
        #expect(nodes == whole.aliveNodes())
        return changes
    }

    @Test func theChangesAreExactlyTheDifferences() {
        var whole = AliveTable()
        for i in 0..<100 { Self.alive(&whole, "node-\(i)", "10.0.0.\(i):7946") }
        Self.notAlive(&whole, "node-99")
        let earlier = whole
        var later = AliveTable(keepsRemovals: true)
        #expect(Self.expectChangesRebuild(later, since: earlier, whole: whole) == 0)

        func alive(_ name: String, _ address: String) {
            Self.alive(&whole, name, address)
            Self.alive(&later, name, address)
        }
        func notAlive(_ name: String) {
            Self.notAlive(&whole, name)
            Self.notAlive(&later, name)
        }
        alive("node-0", "10.0.0.0:7946")      // the same again: no change
        alive("node-1", "10.9.9.9:7946")      // moved (longer address: a new place)
        alive("node-2", "1.1.1.1:1")          // moved
        alive("node-2", "2.2.2.2:2")          // and moved again (written over)
        notAlive("node-3")                    // gone
        notAlive("node-4")
        alive("node-4", "10.0.0.4:7946")      // gone and back as it was: no change
        alive("node-99", "10.0.0.99:7946")    // back
        alive("new-1", "10.1.0.1:7946")       // new
        alive("new-2", "10.1.0.2:7946")
        notAlive("new-2")                     // new and gone: no change
        notAlive("never-seen")                // not in either
        #expect(Self.expectChangesRebuild(later, since: earlier, whole: whole) == 5)
    }

    /// A table made at a size holds what one grown on the way holds, past that size too (and a
    /// capacity beyond what is reserved still makes a working table).
    @Test(arguments: [0, 100, 5000, 1 << 30])
    func aTableMadeAtASizeHoldsTheSame(capacity: Int) {
        var sized = AliveTable(capacity: capacity), grown = AliveTable()
        for i in 0..<12_000 {
            Self.alive(&sized, "node-\(i % 9000)", "10.0.\(i % 7).1:\(i)")
            Self.alive(&grown, "node-\(i % 9000)", "10.0.\(i % 7).1:\(i)")
            if i % 5 == 0 {
                Self.notAlive(&sized, "node-\(i / 2)")
                Self.notAlive(&grown, "node-\(i / 2)")
            }
        }
        #expect(sized.aliveNodes() == grown.aliveNodes())
        #expect(sized.aliveCount == grown.aliveCount)
    }

    /// The later table grows many times over; the changes still rebuild the whole.
    @Test func changesSurviveTheTableGrowing() {
        var whole = AliveTable()
        for i in 0..<40 { Self.alive(&whole, "n\(i)", "a\(i)") }
        let earlier = whole
        var later = AliveTable(keepsRemovals: true)
        for i in 0..<5000 {
            Self.alive(&whole, "m\(i)", "b\(i)")
            Self.alive(&later, "m\(i)", "b\(i)")
        }
        for i in stride(from: 0, to: 40, by: 3) {
            Self.notAlive(&whole, "n\(i)")
            Self.notAlive(&later, "n\(i)")
        }
        #expect(Self.expectChangesRebuild(later, since: earlier, whole: whole) == 5000 + 14)
    }

    /// A table that keeps removals, given only the records after another table's: its changes
    /// applied to that table's alive set give the alive set of every record on one table.
    @Test(arguments: [UInt64(4), 5, 6])
    func aTableOfTheLaterRecordsRebuildsTheWhole(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var whole = AliveTable(), earlier = AliveTable(), later = AliveTable(keepsRemovals: true)
        for step in 0..<6000 {
            let n = Int.random(in: 0..<700, using: &rng)
            let name = "node-\(n)", address = "10.\(n % 3).0.\(Int.random(in: 0..<4, using: &rng)):7946"
            let alive = Int.random(in: 0..<4, using: &rng) > 0
            func apply(_ table: inout AliveTable) {
                if alive { Self.alive(&table, name, address) } else { Self.notAlive(&table, name) }
            }
            apply(&whole)
            if step < 3000 { apply(&earlier) } else { apply(&later) }
        }
        Self.expectChangesRebuild(later, since: earlier, whole: whole)
        // A name the later records only remove is in neither's alive set.
        Self.notAlive(&later, "never-alive")
        #expect(!later.aliveNodes().keys.contains("never-alive"))
    }

    enum Step {
        case alive(String, String)
        case notAlive(String)
        case clock(UInt64)
        case leave
    }

    /// Replays `before`, freezes the alive set, replays `after`, against the same records
    /// replayed without the freeze.
    static func expectSameState(_ before: [Step], _ after: [Step], rejoin: Bool, frozen: Bool = true, _ comment: Comment) {
        func replay(_ steps: [Step], into builder: inout StateBuilder) {
            for (i, step) in steps.enumerated() {
                let offset = Int64(i)
                switch step {
                case .alive(let name, let address):
                    Array(name.utf8).withUnsafeBytes { name in
                        Array(address.utf8).withUnsafeBytes { builder.record(.alive(name: name, address: $0), offset: offset) }
                    }
                case .notAlive(let name):
                    Array(name.utf8).withUnsafeBytes { builder.record(.notAlive(name: $0), offset: offset) }
                case .clock(let value): builder.record(.clock(.clock, value), offset: offset)
                case .leave: builder.record(.leave, offset: offset)
                }
            }
        }
        var plain = StateBuilder(rejoinAfterLeave: rejoin)
        var layered = StateBuilder(rejoinAfterLeave: rejoin)
        replay(before, into: &plain)
        replay(before, into: &layered)
        layered.freezeAliveSet()
        #expect(layered.hasFrozenAliveSet == frozen, comment)
        replay(after, into: &plain)
        replay(after, into: &layered)
        let expected = plain.finishState()
        let state = layered.finishState()
        #expect(!expected.aliveNodes.hasBase)
        #expect(state == expected, comment)
        #expect(state.aliveNodes.count == expected.aliveNodes.count, comment)
        #expect(state.aliveNodeList().map(\.name) == expected.aliveNodeList().map(\.name), comment)
        #expect(layered.countedReport == plain.countedReport, comment)
    }

    static func checkpoint(_ count: Int) -> [Step] {
        (0..<count).map { .alive("node-\($0)", "10.0.\($0 / 256).\($0 % 256):7946") } + [.notAlive("node-7")]
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func aFrozenAliveSetGivesTheSameState(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let before = Self.checkpoint(StateBuilder.baseMinimum + 500)
        // The log: joins, failures and moves over the checkpoint's names and new ones.
        let log: [Step] = (0..<20_000).map { _ in
            let n = Int.random(in: 0..<6000, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<60: return .alive("node-\(n)", "10.0.\(n / 256).\(n % 256):7946")
            case 60..<75: return .alive("node-\(n)", "192.168.\(n % 7).1:\(n)")
            case 75..<95: return .notAlive("node-\(n)")
            default: return .clock(UInt64(n))
            }
        }
        Self.expectSameState(before, log, rejoin: false, "seed \(seed)")
        Self.expectSameState(before, [], rejoin: false, "no log, seed \(seed)")
    }

    /// A leave empties the table: the base is dropped, and what follows starts afresh (or,
    /// with rejoin-after-leave, the leave changes nothing and the base is kept).
    @Test(arguments: [false, true])
    func aLeaveDropsTheBase(rejoin: Bool) {
        let before = Self.checkpoint(StateBuilder.baseMinimum + 10)
        Self.expectSameState(before, [.alive("node-1", "9.9.9.9:1"), .leave, .alive("after", "1.2.3.4:5")], rejoin: rejoin, "leave")
        Self.expectSameState(before, [.notAlive("node-2"), .leave], rejoin: rejoin, "leave at the end")
    }

    /// A name the table cannot take (not ASCII) moves the set into Strings mid-log: the base
    /// with the changes so far on top is what they go on from (the Kelvin sign is "K", a
    /// name of the base).
    @Test func aNameThatIsNotASCIIGoesOnFromTheBase() {
        let before = Self.checkpoint(StateBuilder.baseMinimum + 10) + [.alive("K", "3.3.3.3:3")]
        Self.expectSameState(before, [.notAlive("node-3"), .alive("node-4", "8.8.8.8:8"), .alive("caf\u{E9}", "1.1.1.1:1"),
                                      .alive("node-5", "7.7.7.7:7"), .notAlive("node-6"), .notAlive("\u{212A}")], rejoin: false, "not ASCII")
    }

    /// Below the minimum nothing is frozen (a tree, as before).
    @Test func aSmallSetIsNotFrozen() {
        Self.expectSameState(Self.checkpoint(100), [.alive("node-1", "9.9.9.9:1"), .notAlive("node-2")], rejoin: false, frozen: false, "small")
    }
}
