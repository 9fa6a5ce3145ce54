-- post.lua - wrk script for `make load` (scripts/load.sh): POSTs the AdmissionReview named by
-- $LOAD_REVIEW as application/json, and at the end prints one machine-readable line:
--   LOADRESULT requests duration_us p50_us p99_us connect read write status timeout p90_us
-- (status = responses with a status of 400 or above; the last four are wrk's socket errors).
local path = os.getenv("LOAD_REVIEW")
local f = assert(io.open(path, "rb"), "LOAD_REVIEW: cannot open " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADRESULT %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(90)))
end
