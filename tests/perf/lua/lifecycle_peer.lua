-- The peer's lifecycles (django-viewflow, tests/perf/peer/): the same requests as lifecycle.lua,
-- on the peer's JSON API (POST /api/applications, PUT /api/applications/<id>, numeric ids).
LIFECYCLE_API = {start = "/api/applications", item = "/api/applications/", id = '"id"%s*:%s*(%d+)'}
dofile(os.getenv("BENCH_LUA_DIR") .. "/lifecycle.lua")
