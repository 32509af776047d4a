-- Shared by the wrk scripts: read settings from the environment, report as one JSON line.
local M = {}

function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

function M.headers()
  local h = {["Content-Type"] = "application/json"}
  local token = M.env("BENCH_TOKEN", nil)
  if token then h["Authorization"] = "Bearer " .. token end
  return h
end

function M.read_lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

-- Print the figures of the run as one line that run.py parses.
function M.report(summary, latency, extra)
  local e = summary.errors
  local s = string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d%s}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, extra or "")
  io.write("BENCH_JSON " .. s .. "\n")
end

return M
