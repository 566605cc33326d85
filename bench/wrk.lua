-- The one wrk script of bench/peers.sh: the request comes from the
-- environment, so every server is measured by the same generator.
--   WRK_METHOD   GET (default) or POST
--   WRK_BODY     the request body (sent with Content-Type: application/json)
--   WRK_HEADER   one extra header, "Name: value" (a token)
--   WRK_NAMES    set: each request's path gets a distinct suffix (key create)
-- done() prints one line: "wrk-result REQUESTS SECONDS P50_US ERRORS".

wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local header = os.getenv("WRK_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

if os.getenv("WRK_NAMES") then
  -- Distinct across runs on the same server too: the run's own prefix.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  local prefix = string.format("b%x-", math.random(0, 0x7fffffff))
  local n = 0
  function request()
    n = n + 1
    return wrk.format(nil, wrk.path .. prefix .. n)
  end
end

function done(summary, latency)
  local e = summary.errors
  io.write(string.format("wrk-result %d %.6f %.1f %d\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50),
    e.connect + e.read + e.write + e.status + e.timeout))
end
