import ArgumentParser
import SnapshotService

@main
struct Snapshotd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keeps a Serf membership snapshot durable, over HTTP/1.1.",
        version: BuildInfo.version,
        subcommands: [Serve.self, Forward.self, Inspect.self, Verify.self, ExportSnapshot.self, ImportSnapshot.self, Convert.self, CompactFile.self, Health.self],
        defaultSubcommand: Serve.self)

    /// `snapshotd forward` runs once per event of a serf agent, so its start-up counts: it is
    /// parsed in a tree of itself alone (`ForwardOnly`), the same command line, usage and errors,
    /// without ArgumentParser reflecting over every other subcommand first (most of its cost).
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "forward" {
            ForwardOnly.main(arguments)
        } else {
            main(arguments)
        }
    }

    /// The root of `snapshotd forward`'s own parse: `snapshotd` with the one subcommand.
    struct ForwardOnly: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "snapshotd", version: BuildInfo.version, subcommands: [Forward.self])
    }
}
