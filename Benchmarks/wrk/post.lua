-- wrk script for `make bench`: POSTs the file $BENCH_BODY (Content-Type $BENCH_CTYPE) to
-- /v1/events on every request, keep-alive. done() prints one line "BENCHJSON {...}".
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.path = "/v1/events"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"requests_per_second":%.1f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d,"latency_max_us":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
