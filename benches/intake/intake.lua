-- wrk script for `POST /api/cases`: random points in the benchmark area, a mix of
-- event categories and a component category (nearest-component lookup).
-- Environment: TOKEN (bearer token), W S E N (the area), KEYS=1 (an Idempotency-Key,
-- unique per request, on every request: the inspector page's outbox sends them).
local token = os.getenv("TOKEN")
local w, s = tonumber(os.getenv("W")), tonumber(os.getenv("S"))
local e, n = tonumber(os.getenv("E")), tonumber(os.getenv("N"))
local cats = { "E0102", "E0104", "E0105", "E0101", "P0111", "P0102" }
local keys = os.getenv("KEYS") == "1"
local run = os.getenv("RUN") or tostring(os.time())
local seq = 0
local desc = os.getenv("DESC") or "bench"
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  math.randomseed(os.time() * 1000 + id)
end

function request()
  -- stay 20 m inside the edges so every point is in a grid
  local lon = w + 0.0003 + math.random() * (e - w - 0.0006)
  local lat = s + 0.0003 + math.random() * (n - s - 0.0006)
  local cat = cats[math.random(#cats)]
  local body = string.format('{"category":"%s","lon":%.7f,"lat":%.7f,"description":"%s"}', cat, lon, lat, desc)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  if keys then
    seq = seq + 1
    headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, id, seq)
  end
  return wrk.format("POST", "/api/cases", headers, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("RESULT created=%d other=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    c, o, summary.duration / 1e6, c / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
