-- Shared by the wrk scripts: the data file run.py writes, and a machine-readable summary.
--
-- The data file is a Lua chunk returning {path=..., auth=..., vns={...}, ids={...}}; its
-- location is the first argument after `--` on the wrk command line.

local common = {}

function common.load(args)
   local data = dofile(args[1])
   data.headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = data.auth,
   }
   return data
end

-- wrk calls done() in its main Lua state once the run is over; run.py reads this line.
function common.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

return common
