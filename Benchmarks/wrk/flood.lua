-- wrk script for `make bench` (fairness): POSTs the file $BENCH_BODY (Content-Type $BENCH_CTYPE)
-- to $BENCH_PATH (default /v1/snapshots/flood/events) on every request, keep-alive, and counts
-- the answers by status: done() prints one line "BENCHJSON {...}" (the fields of post.lua, plus
-- "status_2xx", "status_503" and "status_other", summed over the threads).
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/snapshots/flood/events"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

ok, s503, other = 0, 0, 0
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then s503 = s503 + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local e = summary.errors
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("ok"); b = b + t:get("s503"); c = c + t:get("other")
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"requests_per_second":%.1f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d,"latency_max_us":%d,"status_2xx":%d,"status_503":%d,"status_other":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    a, b, c))
end
