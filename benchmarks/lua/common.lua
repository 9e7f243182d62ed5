-- Shared by the wrk scripts: the data file run.py writes, and a machine-readable summary.
--
-- The data file is a Lua chunk returning {path=..., auth=..., vns={...}, ids={...}}; its
-- location is the first argument after `--` on the wrk command line.

local common = {}

-- wrk calls setup() once per thread in its main Lua state: each thread learns its number (tid).
local threads = 0
function common.setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function common.load(args)
   local data = dofile(args[1])
   data.headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = data.auth,
   }
   return data
end

-- init() and request() of a script that sends METHOD to each allocation's path in turn, thread
-- k of n taking ids k, k + n, ... (args: DATA_FILE NTHREADS).
function common.by_id(method)
   local data, index, step, paths
   local function init(args)
      data = common.load(args)
      step = tonumber(args[2]) or 1
      index = tid
      paths = {}
      for i, id in ipairs(data.ids) do
         paths[i] = data.path .. "/" .. id
      end
   end
   local function request()
      local path = paths[(index % #paths) + 1]
      index = index + step
      return wrk.format(method, path, data.headers)
   end
   return init, request
end

-- Latency percentiles written out, so that run.py can pool the percentiles of several runs.
local PERCENTILES = {0, 10, 25, 50, 75, 90, 95, 97, 98, 99, 99.5, 99.9, 99.99}

-- wrk calls done() in its main Lua state once the run is over; run.py reads this line.
function common.done(summary, latency, requests)
   local e = summary.errors
   local points = {}
   for i, p in ipairs(PERCENTILES) do
      points[i] = string.format('[%s,%d]', p, latency:percentile(p))
   end
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,' ..
      '"percentiles":[%s]}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, table.concat(points, ",")))
end

return common
