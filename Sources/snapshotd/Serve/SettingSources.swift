import ArgumentParser
import Foundation

/// Where `serve` reads a setting, highest first: its flag on the command line, its environment
/// variable (`SNAPSHOTD_` and the flag's name in capitals, `-` as `_`), the config file
/// (`--config`, a JSON object keyed by flag names), then the default. Every source is parsed and
/// checked the same way, and an error names where the bad value came from: a flag's is a wrong
/// command line (exit 64, with the usage); the environment's and the file's are run-time
/// failures (exit 1). A bad value is never replaced by the default.
struct SettingSources {
    let environment: [String: String]
    let configPath: String?
    let file: [String: String]

    /// The environment variable of a flag: `queue-capacity` -> `SNAPSHOTD_QUEUE_CAPACITY`.
    static func variable(_ name: String) -> String {
        "SNAPSHOTD_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    init(environment: [String: String], configPath: String?, known: Set<String>) throws {
        self.environment = environment
        self.configPath = configPath
        guard let configPath else {
            file = [:]
            return
        }
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw Failure("cannot read the config file \(configPath)")
        }
        let object: [String: ConfigFileValue]
        do {
            object = try JSONDecoder().decode([String: ConfigFileValue].self, from: data)
        } catch {
            throw Failure("the config file \(configPath) is not a JSON object of settings: \(Self.describe(error))")
        }
        let unknown = object.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw Failure("the config file \(configPath) has unknown setting(s): \(unknown.joined(separator: ", ")) (known: \(known.sorted().joined(separator: ", ")))")
        }
        file = object.mapValues(\.text)
    }

    /// The value of setting `name`: `flag` (the command line's text) when given, else the
    /// environment's, else the file's, else `defaultValue`. `parse` returns nil for a value it
    /// refuses; `expected` says what it wants ("an integer from 1 to 1000000").
    func value<T>(_ name: String, flag: String?, default defaultValue: T, expected: String,
                  _ parse: (String) -> T?) throws -> T {
        if let flag {
            guard let value = parse(flag) else { throw ValidationError("--\(name) \(flag.debugDescription): expected \(expected)") }
            return value
        }
        let variable = Self.variable(name)
        if let text = environment[variable] {
            guard let value = parse(text) else { throw Failure("\(variable)=\(text): expected \(expected)") }
            return value
        }
        if let text = file[name], let configPath {
            guard let value = parse(text) else { throw Failure("\(configPath): \"\(name)\": \(text.debugDescription): expected \(expected)") }
            return value
        }
        return defaultValue
    }

    /// Where setting `name` came from, for messages about combinations of settings.
    func origin(_ name: String, flagGiven: Bool) -> String? {
        if flagGiven { return "--\(name)" }
        if environment[Self.variable(name)] != nil { return Self.variable(name) }
        if file[name] != nil, let configPath { return "\"\(name)\" in \(configPath)" }
        return nil
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.debugDescription
        case DecodingError.typeMismatch(_, let context): "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default: "\(error)"
        }
    }
}

/// A value in the config file: a string, a number or a Boolean, read as the text a flag takes.
struct ConfigFileValue: Decodable {
    let text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let bool = try? container.decode(Bool.self) {
            text = bool ? "true" : "false"
        } else if let int = try? container.decode(Int64.self) {
            text = String(int)
        } else if let double = try? container.decode(Double.self) {
            text = String(double)
        } else {
            text = try container.decode(String.self)
        }
    }
}

/// The parsers the settings share.
enum SettingParse {

    /// true/false, 1/0, yes/no, on/off, in any case.
    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }

    static func int(in range: ClosedRange<Int>) -> (String) -> Int? {
        { text in Int(text).flatMap { range.contains($0) ? $0 : nil } }
    }

    static func seconds(in range: ClosedRange<Double>) -> (String) -> Double? {
        { text in Double(text).flatMap { $0.isFinite && range.contains($0) ? $0 : nil } }
    }

    static func oneOf<T: RawRepresentable>(_: T.Type) -> (String) -> T? where T.RawValue == String {
        { T(rawValue: $0) }
    }

    static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }
}
