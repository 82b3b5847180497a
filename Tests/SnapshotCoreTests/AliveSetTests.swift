import TestSupport
import Testing
@testable import SnapshotCore

/// `AliveSet` against a Dictionary given the same changes, with a recovered table as its base
/// and without: lookups, count, iteration, equality and copies agree.
struct AliveSetTests {
    static func base(_ nodes: [String: String]) -> AliveSet.Base {
        var table = AliveTable()
        for (name, address) in nodes {
            let ok = Array(name.utf8).withUnsafeBytes { name in Array(address.utf8).withUnsafeBytes { table.setAlive(name, address: $0) } }
            #expect(ok)
        }
        return AliveSet.Base(table)
    }

    static func expectSame(_ set: AliveSet, _ model: [String: String], _ comment: Comment) {
        #expect(set.count == model.count, comment)
        #expect(set.isEmpty == model.isEmpty, comment)
        var seen: [String: String] = [:]
        for (name, address) in set {
            #expect(seen.updateValue(address, forKey: name) == nil, "\(name) twice; \(comment)")
        }
        #expect(seen == model, comment)
        for (name, address) in model { #expect(set[name] == address, comment) }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func randomChangesAgreeWithADictionary(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var model: [String: String] = [:]
        for n in 0..<300 where n % 7 != 0 { model["node-\(n)"] = "10.0.0.\(n % 250):7946" }
        var set = AliveSet(base: Self.base(model))
        #expect(set.hasBase)
        Self.expectSame(set, model, "the base, seed \(seed)")
        var copies: [(AliveSet, [String: String])] = []
        for step in 0..<3000 {
            let name = "node-\(Int.random(in: 0..<400, using: &rng))"
            if Int.random(in: 0..<3, using: &rng) == 0 {
                set[name] = nil
                model[name] = nil
            } else {
                let address = "10.\(Int.random(in: 0..<3, using: &rng)).0.1:\(Int.random(in: 1..<4, using: &rng))"
                set[name] = address
                model[name] = address
            }
            #expect(set[name] == model[name], "step \(step), seed \(seed)")
            #expect(set.count == model.count, "step \(step), seed \(seed)")
            if step % 500 == 0 { copies.append((set, model)) }
        }
        Self.expectSame(set, model, "seed \(seed)")
        // Copies taken on the way are unchanged by what came after.
        for (copy, then) in copies { Self.expectSame(copy, then, "a copy, seed \(seed)") }
        // Equal to the same nodes held another way, and not to others.
        var plain: AliveSet = [:]
        for (name, address) in model { plain[name] = address }
        #expect(set == plain && plain == set)
        plain["another"] = "1.1.1.1:1"
        #expect(set != plain && plain != set)
    }

    @Test func aNameThatIsNotASCIIFindsItsCanonicalEquivalentInTheBase() {
        var set = AliveSet(base: Self.base(["K": "1.1.1.1:1", "a;b": "2.2.2.2:2"]))
        #expect(set["\u{212A}"] == "1.1.1.1:1")  // the Kelvin sign is "K"
        #expect(set["a\u{037E}b"] == "2.2.2.2:2")  // the Greek question mark is ";"
        #expect(set["caf\u{E9}"] == nil)
        set["\u{212A}"] = nil
        #expect(set["K"] == nil && set.count == 1)
        #expect(set.map(\.key) == ["a;b"])
        set["K"] = "3.3.3.3:3"
        #expect(set["\u{212A}"] == "3.3.3.3:3" && set.count == 2)
    }

    @Test func aBaseNameRemovedAndSetAgainCountsOnce() {
        var set = AliveSet(base: Self.base(["a": "1.1.1.1:1", "b": "2.2.2.2:2"]))
        set["a"] = nil
        set["a"] = nil
        #expect(set.count == 1)
        set["a"] = "9.9.9.9:9"
        set["a"] = "8.8.8.8:8"
        #expect(set.count == 2 && set["a"] == "8.8.8.8:8")
        set["a"] = nil
        #expect(set.count == 1 && set["a"] == nil && set.keys.sorted() == ["b"])
        set["b"] = "2.2.2.2:2"  // the base's own address, set again
        #expect(set.count == 1 && set == ["b": "2.2.2.2:2"])
    }
}
