// hummingbird-peer [PORT]: listens on 127.0.0.1:PORT (default 8090), prints "listening PORT"
// once bound. POST /v1/events collects the body (up to 16 MiB) and answers 204.
import Hummingbird

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8090 : 8090

let router = Router()
router.post("/v1/events") { request, _ -> HTTPResponse.Status in
    _ = try await request.body.collect(upTo: 16 << 20)
    return .noContent
}

var app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil)
)
app.logger.logLevel = .warning
try await app.runService()
