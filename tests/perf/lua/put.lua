-- PUT <prefix><id> with {"state_data": {...}}: a state merge on a random one of the ids in
-- BENCH_IDS (a file, one id a line). BENCH_PREFIX is /api/workflows/ or /docs/ (the baseline).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local c = require("common")
local ids, prefix, headers

function init(args)
  math.randomseed(os.time() + (tonumber(c.env("BENCH_SEED", "0")) or 0) + math.floor(os.clock() * 1e6))
  ids = c.read_lines(c.env("BENCH_IDS", "ids.txt"))
  prefix = c.env("BENCH_PREFIX", "/api/workflows/")
  headers = c.headers()
end

function request()
  local id = ids[math.random(#ids)]
  local body = string.format('{"state_data": {"amount": %d, "purpose": "purpose %d"}}',
                             math.random(1000, 1000000), math.random(1, 1000000))
  return wrk.format("PUT", prefix .. id, headers, body)
end

function done(summary, latency, requests)
  c.report(summary, latency)
end
