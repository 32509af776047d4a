-- POST /api/workflows: start a workflow of BENCH_TEMPLATE for BENCH_USER in a new conversation.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local c = require("common")
local counter, n = 0, 0
local headers, template, user, run

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  headers = c.headers()
  template = c.env("BENCH_TEMPLATE", "bench_loan")
  user = c.env("BENCH_USER", "bench_user_0")
  run = c.env("BENCH_RUN", "r")
end

function request()
  n = n + 1
  local body = string.format('{"template_id": "%s", "user_id": "%s", "conversation_id": "post-%s-%d-%d"}',
                             template, user, run, tid, n)
  return wrk.format("POST", "/api/workflows", headers, body)
end

function done(summary, latency, requests)
  c.report(summary, latency)
end
