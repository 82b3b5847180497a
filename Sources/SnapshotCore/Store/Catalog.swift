/// The names of a store's snapshots and the identities their records carry in the log: what the
/// catalog file holds, with the log's later catalog records applied. A value; no I/O. The
/// snapshot `default` (identity 0) is the store's own and never in it.
struct Catalog: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var id: UInt32
        var name: SnapshotName
        var options: SnapshotOptions
        /// The log position of its create record (0 when it came from the catalog file): no
        /// checkpoint of this snapshot can cover less.
        var createdAt: UInt64
    }

    private(set) var entries: [UInt32: Entry] = [:]
    private(set) var ids: [SnapshotName: UInt32] = [:]
    /// The next identity to give: identities are never given twice, so a record of a deleted
    /// snapshot can never be taken for one of a later snapshot of the same name.
    private(set) var nextID: UInt32 = 1
    /// Names whose snapshot a delete record removed (while reading the log back): a file left by
    /// a stop between the record and the file's removal is explained by it.
    private(set) var deletedNames: Set<SnapshotName> = []

    init(nextID: UInt32 = 1) {
        self.nextID = max(1, nextID)
    }

    var count: Int { entries.count }

    /// Applies a change. A create names a new identity; one for a name already taken replaces
    /// the older identity (the delete between them is implied: the log holds them in order).
    mutating func apply(_ record: CatalogRecord, at position: UInt64) {
        switch record {
        case .create(let id, let name, let options):
            guard id != SnapshotWriter.defaultID else { return }
            if let old = ids[name] { entries[old] = nil }
            if let previous = entries[id] { ids[previous.name] = nil }
            entries[id] = Entry(id: id, name: name, options: options, createdAt: position)
            ids[name] = id
            deletedNames.remove(name)
            nextID = max(nextID, id &+ 1)
        case .delete(let id):
            guard let entry = entries.removeValue(forKey: id) else { return }
            ids[entry.name] = nil
            deletedNames.insert(entry.name)
        case .reset:
            break  // a snapshot's state, not the catalog
        }
    }

    /// A new identity for `name`, the create record to log for it.
    mutating func create(_ name: SnapshotName, options: SnapshotOptions, at position: UInt64) -> CatalogRecord {
        let record = CatalogRecord.create(id: nextID, name: name, options: options)
        apply(record, at: position)
        return record
    }

    /// The create records that rebuild this catalog (the catalog file's body), by identity.
    var createRecords: [CatalogRecord] {
        entries.values.sorted { $0.id < $1.id }.map { .create(id: $0.id, name: $0.name, options: $0.options) }
    }
}
