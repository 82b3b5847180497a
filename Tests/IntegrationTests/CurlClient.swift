import CCurl
import Foundation

/// A failed libcurl call: the CURLcode, libcurl's text for it and, when it had one, the
/// transfer's own error-buffer detail (e.g. "Failed to connect to 127.0.0.1 port 1: ...").
struct CurlError: Error, CustomStringConvertible {
    var code: Int
    var message: String

    init(_ code: CURLcode, detail: String = "") {
        self.code = Int(code.rawValue)
        let text = String(cString: curl_easy_strerror(code))
        message = detail.isEmpty || detail == text ? text : "\(text): \(detail)"
    }

    init(message: String) {
        code = -1
        self.message = message
    }

    var description: String { "curl error \(code): \(message)" }
}

/// One complete HTTP response. Plain values only, so it may cross concurrency domains;
/// `json()` builds its untyped `[String: Any]` on demand, never storing it.
struct CurlResponse: Sendable {
    var status: Int
    /// The final response's header fields in order, names lower-cased, values trimmed.
    var headers: [(String, String)]
    var body: [UInt8]
    /// Status codes of interim 1xx responses that preceded this one (e.g. `[100]`
    /// when the server answered `Expect: 100-continue`).
    var informational: [Int] = []
    /// CURLINFO_TOTAL_TIME of the transfer, in seconds.
    var totalSeconds: Double = 0

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The first value of the named header (case-insensitive), or nil.
    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0 == wanted }?.1
    }

    /// Every value of the named header (case-insensitive), in order.
    func headerValues(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.0 == wanted }.map(\.1)
    }

    /// The body as a JSON object. Throws when the body is not JSON or not an object.
    /// Numbers come back as NSNumber; use `decode(_:)` for exact UInt64 clocks.
    func json() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        guard let object = value as? [String: Any] else {
            throw CurlError(message: "response body is not a JSON object: \(text.prefix(200))")
        }
        return object
    }

    /// The body decoded with JSONDecoder (exact for UInt64 fields).
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(body))
    }
}

/// libcurl is initialised once per process; a `static let` is initialised exactly once,
/// thread-safely, by the Swift runtime.
private enum CurlGlobal {
    static let initCode: UInt32 = ccurl_global_init_all().rawValue
}

/// Collects one transfer's output; reached from the C callbacks through an unmanaged pointer.
private final class ResponseAccumulator {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    var informational: [Int] = []
    var currentStatus: Int?

    func headerLine(_ raw: UnsafeBufferPointer<UInt8>) {
        // Note "\r\n" is one Character, so trim by character class, not by "\r" / "\n".
        let line = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .newlines)
        if line.hasPrefix("HTTP/") {
            // A new response starts: anything before it was an interim (1xx) response.
            if let previous = currentStatus { informational.append(previous) }
            let parts = line.split(separator: " ", maxSplits: 2)
            currentStatus = parts.count > 1 ? Int(parts[1]) : nil
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }  // blank line ends a block
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers.append((name, value))
    }
}

/// A minimal HTTP/1.1 client for the integration tests, on one libcurl easy handle.
/// Reusing the handle keeps its connection cache, so sequential requests to the same server
/// reuse one keep-alive connection (see `connectionsOpened`). Not thread-safe: use one
/// client per task/thread.
final class CurlClient {
    let baseURL: String
    /// CURLOPT_TIMEOUT_MS for each whole request.
    var timeoutMilliseconds = 30_000
    /// New connections libcurl opened so far (CURLINFO_NUM_CONNECTS summed over requests).
    private(set) var connectionsOpened = 0
    /// Requests completed so far (any status).
    private(set) var requestCount = 0
    /// Total time of the last request, in seconds. A POST over libcurl's Expect threshold that
    /// the server answers with `100 Continue` finishes well under libcurl's 1 s Expect wait.
    private(set) var lastTotalSeconds: Double = 0

    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init(baseURL: String) {
        precondition(CurlGlobal.initCode == CURLE_OK.rawValue, "curl_global_init failed: \(CurlGlobal.initCode)")
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed") }
        self.handle = handle
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    func get(_ path: String, headers: [String] = []) throws -> CurlResponse {
        try request(method: "GET", path: path, body: nil, headers: headers)
    }

    func post(_ path: String, body: [UInt8], contentType: String = "application/json", headers: [String] = []) throws -> CurlResponse {
        try request(method: "POST", path: path, body: body, headers: ["Content-Type: \(contentType)"] + headers)
    }

    func post(_ path: String, json: String, headers: [String] = []) throws -> CurlResponse {
        try post(path, body: Array(json.utf8), headers: headers)
    }

    /// Sends one request. `headers` are raw `Name: value` lines (`Name:` removes a header
    /// libcurl would add). A request with a body and no Content-Type line is sent without a
    /// Content-Type rather than with libcurl's form default. POST with a nil body sends
    /// `Content-Length: 0`. The path is sent as given (CURLOPT_PATH_AS_IS).
    func request(method: String, path: String, body: [UInt8]?, headers: [String]) throws -> CurlResponse {
        curl_easy_reset(handle)  // options only: the connection cache survives
        errorBuffer[0] = 0
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        var allHeaders = headers
        if body != nil || method == "POST",
           !headers.contains(where: { $0.lowercased().hasPrefix("content-type:") }) {
            allHeaders.append("Content-Type:")
        }
        for line in allHeaders {
            guard let appended = curl_slist_append(list, line) else { throw CurlError(message: "curl_slist_append failed") }
            list = appended
        }

        try check(ccurl_setopt_string(handle, CURLOPT_URL, baseURL + path))
        try check(ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
        try check(ccurl_setopt_long(handle, CURLOPT_PATH_AS_IS, 1))
        try check(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds))
        try check(ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(timeoutMilliseconds, 10_000)))
        try check(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list))

        let accumulator = ResponseAccumulator()
        let context = Unmanaged.passUnretained(accumulator).toOpaque()
        try check(ccurl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let total = size * count
            guard let context, let data, total > 0 else { return total }
            let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(context).takeUnretainedValue()
            data.withMemoryRebound(to: UInt8.self, capacity: total) {
                accumulator.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: total))
            }
            return total
        })
        try check(ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(ccurl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let total = size * count
            guard let context, let data, total > 0 else { return total }
            let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(context).takeUnretainedValue()
            data.withMemoryRebound(to: UInt8.self, capacity: total) {
                accumulator.headerLine(UnsafeBufferPointer(start: $0, count: total))
            }
            return total
        })
        try check(ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))

        let sendsBody = body != nil || method == "POST"
        if !sendsBody {
            switch method {
            case "GET": try check(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
            case "HEAD": try check(ccurl_setopt_long(handle, CURLOPT_NOBODY, 1))
            default: try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method))
            }
            try withExtendedLifetime(accumulator) { try perform() }
        } else {
            if method != "POST" { try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)) }
            let bytes = body ?? []
            // libcurl reads CURLOPT_POSTFIELDS in place during perform; never hand it NULL
            // (that would make it read the body from stdin).
            let storage = bytes.isEmpty ? [0] : bytes
            try storage.withUnsafeBufferPointer { buffer in
                try check(ccurl_setopt_long(handle, CURLOPT_POST, 1))
                try check(ccurl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count)))
                try check(ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
                try withExtendedLifetime(accumulator) { try perform() }
            }
            // Don't leave a dangling body pointer in the handle between requests.
            try check(ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil))
        }

        var status = 0
        var connects = 0
        var total = 0.0
        try check(ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        try check(ccurl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects))
        try check(ccurl_getinfo_double(handle, CURLINFO_TOTAL_TIME, &total))
        connectionsOpened += connects
        requestCount += 1
        lastTotalSeconds = total
        return CurlResponse(
            status: status,
            headers: accumulator.headers,
            body: accumulator.body,
            informational: accumulator.informational,
            totalSeconds: total
        )
    }

    private func perform() throws {
        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            // Count the connection attempt even when the transfer failed.
            var connects = 0
            if ccurl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK { connectionsOpened += connects }
            throw CurlError(code, detail: String(cString: errorBuffer))
        }
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else { throw CurlError(code, detail: String(cString: errorBuffer)) }
    }
}
