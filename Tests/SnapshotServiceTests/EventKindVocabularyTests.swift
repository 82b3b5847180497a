import CEventJSON
import Foundation
import SnapshotCore
import Testing

@testable import SnapshotService

/// The service's vocabulary (event kinds, refusal reasons) is kept once, in `SnapshotEventKind`
/// and `SnapshotError.Reason`: what else names them (CEventJSON, the metrics, openapi.yaml) is
/// checked against every case here.
@Suite struct EventKindVocabularyTests {
    @Test func ordinalsAreDense() {
        #expect(SnapshotEventKind.allCases.map(\.rawValue) == Array(0..<SnapshotEventKind.allCases.count))
        #expect(SnapshotError.Reason.allCases.map(\.rawValue) == Array(0..<SnapshotError.Reason.allCases.count))
    }

    @Test func namesAndLabelsAreDistinct() {
        #expect(Set(SnapshotEventKind.allCases.map(\.name)).count == SnapshotEventKind.allCases.count)
        #expect(Set(SnapshotError.Reason.allCases.map(\.label)).count == SnapshotError.Reason.allCases.count)
    }

    /// CEventJSON's kinds are SnapshotEventKind's ordinals and names, and it has no other.
    @Test(arguments: SnapshotEventKind.allCases)
    func cEventJSONKnowsEveryKind(kind: SnapshotEventKind) throws {
        #expect(cej_kind_of(kind.name, kind.name.utf8.count) == Int32(kind.rawValue))
        let cName = try #require(cej_kind_name(Int32(kind.rawValue)))
        #expect(String(cString: cName) == kind.name)
        #expect(SnapshotEventKind(tapeKind: UInt8(kind.rawValue)) == kind)
    }

    @Test func cEventJSONHasNoOtherKind() {
        #expect(Int(CEJ_KIND_COUNT) == SnapshotEventKind.allCases.count)
        #expect(cej_kind_name(CEJ_KIND_COUNT) == nil)
        #expect(cej_kind_name(-1) == nil)
        #expect(cej_kind_of("member-joined", 13) == -1)
        #expect(cej_kind_of("user", 3) == -1)
        #expect(SnapshotEventKind(tapeKind: UInt8(CEJ_KIND_COUNT)) == nil)
    }

    @Test(arguments: SnapshotEventKind.allCases)
    func namesRoundTrip(kind: SnapshotEventKind) {
        #expect(SnapshotEventKind(name: kind.name) == kind)
        #expect(SnapshotEventKind(name: kind.name + "x") == nil)
        if let member = kind.memberKind {
            #expect(member.eventKind == kind)
            #expect(MemberEventKind(name: kind.name) == member)
        } else {
            #expect(MemberEventKind(name: kind.name) == nil)
        }
    }

    /// An event of each kind, written by EventEncoder and read by EventDecoder (through the tape).
    @Test(arguments: SnapshotEventKind.allCases)
    func everyKindDecodes(kind: SnapshotEventKind) throws {
        let event: SnapshotEvent = switch kind {
        case .user: .user(ltime: 3, name: "u", payload: [1, 2], coalesce: true)
        case .query: .query(ltime: 4, name: "q")
        case .clock: .clock(ltime: 5)
        case .memberJoin, .memberLeave, .memberFailed, .memberUpdate, .memberReap:
            .member(try #require(kind.memberKind), members: [Member(name: "m", address: try #require(IPAddress("10.0.0.1")), port: 7946)], ltime: 2)
        }
        #expect(event.kind == kind)
        let body = EventEncoder.json(event)
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"type":"\#(kind.name)""#))
        #expect(try EventDecoder().decode(body, format: .single) == [event])
    }

    /// The metrics make a series for every kind and every reason, with the labels documented.
    @Test func metricsHaveASeriesForEveryCase() {
        let text = String(decoding: ServiceMetrics().render(engine: nil, ready: false), as: UTF8.self)
        for kind in SnapshotEventKind.allCases {
            #expect(text.contains(#"snapshotd_events_accepted_total{type="\#(kind.name)"} 0"#), "\(kind)")
        }
        for reason in SnapshotError.Reason.allCases {
            #expect(text.contains(#"snapshotd_events_refused_total{reason="\#(reason.label)"} 0"#), "\(reason)")
        }
    }

    @Test func metricsCountByCase() throws {
        let metrics = ServiceMetrics()
        let member = Member(name: "m", address: try #require(IPAddress("10.0.0.1")), port: 1)
        metrics.accepted([.clock(ltime: 1)])
        metrics.accepted([.clock(ltime: 2), .member(.reap, members: [member], ltime: nil), .clock(ltime: 3), .query(ltime: 1, name: "q")])
        metrics.refused(count: 3, reason: .unknownSnapshot("x"))
        metrics.refused(count: 2, reason: .queueFull)
        let text = String(decoding: metrics.render(engine: nil, ready: false), as: UTF8.self)
        #expect(text.contains(#"snapshotd_events_accepted_total{type="clock"} 3"#))
        #expect(text.contains(#"snapshotd_events_accepted_total{type="member-reap"} 1"#))
        #expect(text.contains(#"snapshotd_events_accepted_total{type="query"} 1"#))
        #expect(text.contains(#"snapshotd_events_accepted_total{type="user"} 0"#))
        #expect(text.contains(#"snapshotd_events_refused_total{reason="unknown_snapshot"} 3"#))
        #expect(text.contains(#"snapshotd_events_refused_total{reason="queue_full"} 2"#))
    }

    /// openapi.yaml's event schemas name exactly these types.
    @Test func theSpecNamesEveryKind() throws {
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        let text = try String(contentsOf: spec, encoding: .utf8)
        let members = SnapshotEventKind.allCases.filter { $0.memberKind != nil }.map(\.name)
        #expect(text.contains("enum: [\(members.joined(separator: ", "))]"), "openapi.yaml's MemberEvent.type enum")
        for kind in SnapshotEventKind.allCases where kind.memberKind == nil {
            #expect(text.contains("const: \(kind.name)\n"), "openapi.yaml has no event of type \(kind.name)")
        }
    }
}
