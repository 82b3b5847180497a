/// A failure at run time (a port in use, a snapshot another process holds, a file that cannot be
/// read): the command prints this one line and exits 1. Exit 64 with the usage is for a wrong
/// command line only (ArgumentParser's `ValidationError`).
struct Failure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
