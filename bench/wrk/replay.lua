-- Replays request paths from a file (one per line), round-robin from a random start, with a
-- bearer token; prints the summary as one JSON line when done.
-- Usage: wrk ... -s replay.lua <url> -- <paths file> <token>
local paths = {}
local counter = 0
local token = ""

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  token = args[2] or ""
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  counter = math.random(#paths)
end

function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter], { ["Authorization"] = "Bearer " .. token })
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean))
end
