-- wrk script of bench/run.py.
-- Arguments after `--`: METHOD BODY PATHS_FILE (BODY "-" for none).
-- Each thread cycles through the paths (e.g. thousands of ticket ids) from
-- its own starting point; the requests are formatted once in init() so the
-- client spends as little CPU as possible per request on a shared machine.
-- done() prints one machine-readable line for run.py.

local reqs, n, i = {}, 0, 0
local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  local method, body, paths = args[1], args[2], args[3]
  local headers = {}
  if body == "-" then
    body = nil
  else
    headers["Content-Type"] = "application/json"
  end
  for path in io.lines(paths) do
    n = n + 1
    reqs[n] = wrk.format(method, path, headers, body)
  end
  -- Spread threads over the list so they do not poll the same ticket in step.
  i = (thread_index * 7919) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
