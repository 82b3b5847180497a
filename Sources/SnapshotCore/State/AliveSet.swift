import Foundation
import HashTreeCollections

/// A snapshot's alive nodes: node name to address (`host:port`, as Go prints it). A value whose
/// copy is O(1), which is what lets a checkpoint write a frozen copy while the writer goes on
/// changing its own.
///
/// Mostly a persistent hash tree. A large alive set that recovery replayed is kept instead as
/// the table it replayed into (`Base`: frozen, shared by every copy), with the changes since
/// on top in a tree: a name the tree holds wins; a base name in `hidden` is not alive. Why:
/// making 100,000 names Strings and a `TreeDictionary` alone cost 50-61 ms (the open of a
/// 100,000-node checkpoint and a 1M-record log took 144-168 ms), where the table is already there.
public struct AliveSet: Sendable {
    /// An alive table no longer changed, with how many of its names are alive.
    final class Base: Sendable {
        let table: AliveTable
        let count: Int

        init(_ table: AliveTable) {
            self.table = table
            count = table.aliveCount
        }

        /// The address `name` is alive at here. The table holds ASCII names only; a name that is
        /// not ASCII equals one of them when its canonical composition (NFC) is that name
        /// (String equality is canonical equivalence: the Kelvin sign U+212A equals "K").
        func address(of name: String) -> String? {
            if let found = table.aliveAddress(of: name) { return found }
            guard !name.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            let composed = name.precomposedStringWithCanonicalMapping
            guard composed.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            return table.aliveAddress(of: composed)
        }

        func contains(_ name: String) -> Bool { address(of: name) != nil }
    }

    private var base: Base?
    /// Every alive node when there is no base; else the names set since it (over it).
    private var nodes: TreeDictionary<String, String>
    /// Names of the base that are not alive (and not in `nodes`).
    private var hidden: TreeSet<String> = []
    public private(set) var count: Int

    public init() {
        nodes = [:]
        count = 0
    }

    init(_ nodes: TreeDictionary<String, String>) {
        self.nodes = nodes
        count = nodes.count
    }

    /// The base's alive set, with nothing changed yet.
    init(base: Base) {
        self.base = base
        nodes = [:]
        count = base.count
    }

    public var isEmpty: Bool { count == 0 }

    /// Whether part of the set is a recovered table (for the tests).
    var hasBase: Bool { base != nil }

    public subscript(name: String) -> String? {
        get { nodes[name] ?? baseAddress(of: name) }
        set {
            let old: String?
            if let newValue {
                old = nodes.updateValue(newValue, forKey: name) ?? baseAddress(of: name)
                if !hidden.isEmpty { hidden.remove(name) }
            } else if let removed = nodes.removeValue(forKey: name) {
                old = removed
                if let base, base.contains(name) { hidden.insert(name) }
            } else {
                old = baseAddress(of: name)
                if old != nil { hidden.insert(name) }
            }
            count += (newValue == nil ? 0 : 1) - (old == nil ? 0 : 1)
        }
    }

    /// The address the base gives `name`, where `nodes` does not hold it.
    private func baseAddress(of name: String) -> String? {
        guard let base, hidden.isEmpty || !hidden.contains(name) else { return nil }
        return base.address(of: name)
    }

    public var keys: LazyMapSequence<AliveSet, String> { lazy.map { $0.key } }
}

extension AliveSet: Sequence {
    public typealias Element = (key: String, value: String)

    public struct Iterator: IteratorProtocol {
        private var nodes: TreeDictionary<String, String>.Iterator
        private let set: AliveSet
        private var slot = 0

        init(_ set: AliveSet) {
            self.set = set
            nodes = set.nodes.makeIterator()
        }

        public mutating func next() -> Element? {
            if let node = nodes.next() { return node }
            guard let base = set.base else { return nil }
            while let (name, address, next) = base.table.aliveEntry(from: slot) {
                slot = next
                if set.nodes[name] == nil && !set.hidden.contains(name) { return (name, address) }
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(self) }

    public var underestimatedCount: Int { count }
}

extension AliveSet: Equatable {
    public static func == (lhs: AliveSet, rhs: AliveSet) -> Bool {
        if lhs.base == nil && rhs.base == nil { return lhs.nodes == rhs.nodes }
        guard lhs.count == rhs.count else { return false }
        return lhs.allSatisfy { rhs[$0.key] == $0.value }
    }
}

extension AliveSet: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(TreeDictionary(elements, uniquingKeysWith: { $1 }))
    }
}

extension AliveSet: CustomStringConvertible {
    public var description: String {
        "[" + map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ") + "]"
    }
}
