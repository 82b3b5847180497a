/// Why an invocation of a serf agent's `-event-handler` cannot be turned into an event: what the
/// agent gave (its environment, its standard input) is missing or malformed. Its description is
/// the one line `snapshotd forward` prints.
public struct SerfHandlerInvocationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
