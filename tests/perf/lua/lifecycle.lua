-- Whole lifecycles, one per connection at a time (run with as many threads as connections):
-- POST /api/workflows, PUT two fields, PUT {"status": "completed"}; then the next one.
-- The end action's delivery is counted by the loopback receiver, not here.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local c = require("common")
local threads, counter = {}, 0
local headers, template, user, run
local step, wid, n, completed, failed = 0, nil, 0, 0, 0
-- the paths and the id's pattern in the start's answer (lifecycle_peer.lua sets its own)
local api = LIFECYCLE_API or {start = "/api/workflows", item = "/api/workflows/", id = '"id"%s*:%s*"([0-9a-f%-]+)"'}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end

function init(args)
  headers = c.headers()
  template = c.env("BENCH_TEMPLATE", "bench_loan")
  user = c.env("BENCH_USER", "bench_user_0")
  run = c.env("BENCH_RUN", "r")
end

function request()
  if step == 0 then
    n = n + 1
    local body = string.format('{"template_id": "%s", "user_id": "%s", "conversation_id": "life-%s-%d-%d"}',
                               template, user, run, tid, n)
    return wrk.format("POST", api.start, headers, body)
  elseif step == 1 then
    local body = string.format('{"state_data": {"amount": %d, "purpose": "home improvement"}}', 1000 + n)
    return wrk.format("PUT", api.item .. wid, headers, body)
  else
    return wrk.format("PUT", api.item .. wid, headers, '{"status": "completed"}')
  end
end

function response(status, hdrs, body)
  if status >= 300 then
    failed = failed + 1
    step = 0
    return
  end
  if step == 0 then
    wid = string.match(body, api.id)
    step = wid and 1 or 0
  elseif step == 1 then
    step = 2
  else
    completed = completed + 1
    step = 0
  end
  -- keep the counters readable from done()
  wrk.thread:set("completed", completed)
  wrk.thread:set("failed", failed)
end

function done(summary, latency, requests)
  local total, bad = 0, 0
  for _, t in ipairs(threads) do
    total = total + (t:get("completed") or 0)
    bad = bad + (t:get("failed") or 0)
  end
  c.report(summary, latency, string.format(', "lifecycles": %d, "lifecycle_failures": %d', total, bad))
end
