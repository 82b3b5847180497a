-- wrk script for `make bench` (multi): POSTs the file $BENCH_BODY (Content-Type $BENCH_CTYPE) on
-- every request, keep-alive, to one of $BENCH_NAMES paths chosen round-robin: $BENCH_PATH with
-- its "%s" replaced by the name s0000, s0001, ... (default "/v1/snapshots/%s/events": the named
-- snapshots). Each wrk thread starts at its own offset. done() prints one line "BENCHJSON {...}"
-- (the same fields as post.lua, plus "names").
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local ctype = os.getenv("BENCH_CTYPE") or "application/json"
local template = os.getenv("BENCH_PATH") or "/v1/snapshots/%s/events"
local count = tonumber(os.getenv("BENCH_NAMES") or "1000")

local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

local requests, i = {}, 0
function init(args)
  local headers = { ["Content-Type"] = ctype }
  for n = 0, count - 1 do
    local path = template:gsub("%%s", string.format("s%04d", n))
    requests[n + 1] = wrk.format("POST", path, headers, body)
  end
  i = (offset or 0) % count
end

function request()
  i = i % count + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"requests_per_second":%.1f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d,"latency_max_us":%d,"names":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, count))
end
