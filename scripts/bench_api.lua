-- wrk script for scripts/bench_api.py: each thread sends the requests of its own file.
--   wrk ... -s scripts/bench_api.lua URL -- post FILE_PATTERN   (each line a JSON body for POST /v1/events, sent once)
--   wrk ... -s scripts/bench_api.lua URL -- get FILE_PATTERN    (each line a path to GET, in turn, round and round)
-- FILE_PATTERN holds %d, replaced by the thread's number (0, 1, ...), so threads never share an event.
-- done() prints one line "BENCH {json}": duration, requests, p50/p99 latency, and responses by status
-- (non-2xx ones also by their problem+json `type`).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   requests = {}
   for line in io.lines(string.format(args[2], id)) do
      if mode == "post" then
         requests[#requests + 1] = wrk.format("POST", "/v1/events", { ["Content-Type"] = "application/json" }, line)
      else
         requests[#requests + 1] = wrk.format("GET", line)
      end
   end
   sent = 0
   statuses = {}
   exhausted = 0
end

function request()
   if mode == "post" and sent >= #requests then
      -- Every event of this thread is out: stop rather than resend one (it would be a duplicate).
      exhausted = 1
      wrk.thread:stop()
      return requests[#requests]
   end
   sent = sent + 1
   return requests[(sent - 1) % #requests + 1]
end

function response(status, headers, body)
   local key = tostring(status)
   if status >= 300 then
      key = key .. " " .. (string.match(body or "", '"type"%s*:%s*"([^"]*)"') or "(no problem type)")
   end
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local merged, exhausted_threads = {}, 0
   for _, thread in ipairs(threads) do
      for key, count in pairs(thread:get("statuses")) do
         merged[key] = (merged[key] or 0) + count
      end
      exhausted_threads = exhausted_threads + thread:get("exhausted")
   end
   local parts = {}
   for key, count in pairs(merged) do
      parts[#parts + 1] = string.format('"%s": %d', string.gsub(key, '"', "'"), count)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH {"duration_us": %d, "requests": %d, "p50_us": %d, "p99_us": %d, "exhausted_threads": %d, '
         .. '"socket_errors": %d, "statuses": {%s}}\n',
      summary.duration, summary.requests, latency:percentile(50), latency:percentile(99), exhausted_threads,
      errors.connect + errors.read + errors.write + errors.timeout, table.concat(parts, ", ")
   ))
end
