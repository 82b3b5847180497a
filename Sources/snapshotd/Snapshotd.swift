import ArgumentParser
import SnapshotService

@main
struct Snapshotd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keeps a Serf membership snapshot durable, over HTTP/1.1.",
        version: BuildInfo.version,
        subcommands: [Serve.self, Inspect.self, Verify.self, ExportSnapshot.self, ImportSnapshot.self, Convert.self, CompactFile.self, Health.self],
        defaultSubcommand: Serve.self)
}
