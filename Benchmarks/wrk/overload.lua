-- wrk script for `make bench`'s overload run: every request is a member-join of a new name
-- ("ov-THREAD-N"), so the names acknowledged can be checked against the snapshot afterwards.
-- Counts the answers by status in each thread; done() prints one line "BENCHJSON {...}".
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  made, ok, busy, other = 0, 0, 0, 0
end

function request()
  made = made + 1
  local body = string.format(
    '{"type":"member-join","members":[{"name":"ov-%d-%d","addr":"10.1.%d.%d","port":7946}]}',
    id, made, math.floor(made / 256) % 256, made % 256)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then busy = busy + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local made_, ok_, busy_, other_ = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    made_ = made_ + t:get("made"); ok_ = ok_ + t:get("ok")
    busy_ = busy_ + t:get("busy"); other_ = other_ + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"requests_made":%d,"ok":%d,"status_503":%d,"other_status":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"latency_p99_us":%d,"latency_max_us":%d}\n',
    summary.requests, summary.duration, made_, ok_, busy_, other_,
    e.connect, e.read, e.write, e.timeout, latency:percentile(99), latency.max))
end
