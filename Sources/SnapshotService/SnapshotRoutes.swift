import Foundation
import HTTPServer
import SnapshotCore

/// The routes on the store's snapshots as such (openapi.yaml, `/v1/snapshots`): list, create,
/// delete, stats, export and import. The routes that every snapshot shares with the older
/// `/v1` ones (events, state, leave, rejoin, compact) are in `SnapshotAPI`.
extension SnapshotAPI {
    /// `GET /v1/snapshots?limit=&after=`: a page of names in order, only those the request's
    /// token may use when tokens are configured and one is given.
    func listSnapshots(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let engine = ready(responder) else { return }
        var limit = configuration.maxListPage
        if let text = request.query["limit"] {
            guard let value = Int(text), value >= 1 else {
                responder.respond(.error(status: 400, "limit must be a whole number of at least 1, not \(text.debugDescription)"))
                return
            }
            limit = min(value, configuration.maxListPage)
        }
        let after = request.query["after"]
        let header = request.headers["authorization"]
        let grants = header == nil ? nil : tokenGrants
        let page = engine.store.list(after: after, limit: limit + 1) { name in
            grants.map { $0.authorize(header, snapshot: name) == .granted } ?? true
        }
        let shown = page.prefix(limit)
        let body = ResponseBodies.SnapshotList(
            snapshots: shown.map {
                .init(name: $0.name.rawValue, alive: $0.aliveCount, leaving: $0.leaving,
                      format: $0.options.format.rawValue, rejoin_after_leave: $0.options.rejoinAfterLeave)
            },
            next: page.count > limit ? shown.last?.name.rawValue : nil)
        responder.respond(.json(status: 200, ResponseBodies.encode(body)))
    }

    /// `PUT /v1/snapshots/{name}` with `{"format":"v1|v2","rejoin_after_leave":bool}` (each
    /// optional: the server's defaults): 201 once created durably, 200 when it exists with these
    /// options, 409 when with others.
    func putSnapshot(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        var options = engine.store.defaultOptions
        if !request.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
                responder.respond(.error(status: 400, "the body must be a JSON object: {\"format\":\"v1|v2\",\"rejoin_after_leave\":true|false}"))
                return
            }
            for key in object.keys where key != "format" && key != "rejoin_after_leave" {
                responder.respond(.error(status: 400, "unknown field \(key.debugDescription): only format and rejoin_after_leave"))
                return
            }
            // Typed by Codable: `1` is not a boolean, `"V1"` not a format.
            guard let fields = try? JSONDecoder().decode(CreateFields.self, from: Data(request.body)) else {
                responder.respond(.error(status: 400, "format must be \"v1\" or \"v2\", rejoin_after_leave true or false"))
                return
            }
            if let format = fields.format { options.format = format }
            if let flag = fields.rejoin_after_leave { options.rejoinAfterLeave = flag }
        }
        let chosen = options
        engine.store.create(name, options: chosen) { [self] result in
            switch result {
            case .success(let created):
                let state = engine.store.status(of: name)?.state ?? SnapshotState()
                let entry = ResponseBodies.SnapshotEntry(name: name.rawValue, alive: state.aliveNodes.count, leaving: state.leaving,
                                                         format: chosen.format.rawValue, rejoin_after_leave: chosen.rejoinAfterLeave)
                responder.respond(.json(status: created ? 201 : 200, ResponseBodies.encode(entry)))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    /// The body of `PUT /v1/snapshots/{name}`.
    private struct CreateFields: Decodable {
        var format: SnapshotFormat?
        var rejoin_after_leave: Bool?
    }

    /// `DELETE /v1/snapshots/{name}`: 204 once its delete record is synced and its file removed.
    func deleteSnapshot(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        engine.store.delete(name) { [self] result in
            switch result {
            case .success:
                logger.info("snapshot deleted", metadata: ["snapshot": "\(name)"])
                responder.respond(HTTPResponse(status: 204))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }

    /// `GET /v1/snapshots/{name}/stats`: what `/metrics` does not break down by snapshot.
    func getStats(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        guard let status = engine.store.status(of: name), let options = engine.store.options(of: name) else {
            responder.respond(errorResponse(.unknownSnapshot(name.rawValue)))
            return
        }
        let state = status.state
        let body = ResponseBodies.Stats(
            name: name.rawValue, format: options.format.rawValue, rejoin_after_leave: options.rejoinAfterLeave,
            alive: state.aliveNodes.count, leaving: state.leaving, clock: state.lastClock, event_clock: state.lastEventClock,
            query_clock: state.lastQueryClock, file_bytes: status.fileBytes, checkpoint_position: status.checkpointPosition,
            log_position: status.logPosition, checkpoints: status.compactions, checkpointing: status.compacting)
        responder.respond(.json(status: 200, ResponseBodies.encode(body)))
    }

    /// `GET /v1/snapshots/{name}/export?format=v1|v2`: a complete snapshot file of its current
    /// (durable) state; the v1 one is a file Go serf opens as its `-snapshot` as it is.
    func getExport(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        guard let status = engine.store.status(of: name), let options = engine.store.options(of: name) else {
            responder.respond(errorResponse(.unknownSnapshot(name.rawValue)))
            return
        }
        var format = options.format
        if let text = request.query["format"] {
            guard let chosen = SnapshotFormat(rawValue: text) else {
                responder.respond(.error(status: 400, "format must be v1 or v2, not \(text.debugDescription)"))
                return
            }
            format = chosen
        }
        let body = SnapshotFileWriter.encode(status.state, format: format)
        let type = format == .v1 ? "text/plain; charset=utf-8" : "application/octet-stream"
        responder.respond(HTTPResponse(status: 200, headers: [
            ("Content-Type", type), ("Content-Disposition", "attachment; filename=\"\(name.rawValue).\(format.rawValue)\""),
        ], body: body))
    }

    /// `POST /v1/snapshots/{name}/import[?replace=true]`: the body is a snapshot file (Go's v1
    /// text or v2), replayed with Go's rules; its state replaces the snapshot's in one durable
    /// write. 409 when the snapshot has records and `replace` is not true; the damage replay
    /// found is reported.
    func postImport(_ request: HTTPRequest, _ responder: HTTPResponder, _ name: SnapshotName) {
        guard let engine = ready(responder) else { return }
        let replacing: Bool
        switch request.query["replace"] {
        case nil, "false": replacing = false
        case "true": replacing = true
        case let other?:
            responder.respond(.error(status: 400, "replace must be true or false, not \(other.debugDescription)"))
            return
        }
        let options = engine.store.options(of: name) ?? engine.store.defaultOptions
        guard let (state, report) = SnapshotReplayer(rejoinAfterLeave: options.rejoinAfterLeave).replay(bytes: request.body) else {
            responder.respond(.error(status: 400, "the body is not a snapshot file (neither Go's v1 text nor v2)"))
            return
        }
        engine.store.importState(state, into: name, replacing: replacing) { [self] result in
            switch result {
            case .success:
                let body = ResponseBodies.Imported(
                    format: report.format.rawValue, records: report.records, alive: state.aliveNodes.count,
                    damaged_regions: report.skipped.count, torn_tail_bytes: report.tornTailBytes, replaced: replacing)
                responder.respond(.json(status: 200, ResponseBodies.encode(body)))
            case .failure(let error):
                responder.respond(errorResponse(error))
            }
        }
    }
}
