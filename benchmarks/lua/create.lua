-- POST /v1/tenants/{tenant}/greenpin with a body that is unique per request, so that every
-- create succeeds: a fresh transaction_id, a fresh a-party number (98xxxxxxxx) and b-party
-- number (99xxxxxxxx), the VN cycling over the tenant's pool, and 6-digit PINs (a million per
-- VN, so the pool never runs short of PINs during a run).
--
--   wrk ... -s create.lua URL -- DATA_FILE OFFSET NTHREADS [IDS_OUT]
--
-- OFFSET keeps the numbers of successive runs against one server apart. With IDS_OUT, every
-- greenpin_id answered is appended to IDS_OUT.<thread> (one per line) for the get and delete runs.

package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup

local data, counter, step, out

function init(args)
   data = common.load(args)
   local nthreads = tonumber(args[3]) or 1
   -- Thread k of n takes the counter values OFFSET + k, OFFSET + k + n, ...
   counter = tonumber(args[2]) + tid
   step = nthreads
   if args[4] then
      out = assert(io.open(args[4] .. "." .. tid, "w"))
   end
end

function request()
   local n = counter
   counter = counter + step
   local vn = data.vns[(n % #data.vns) + 1]
   local body = string.format(
      '{"transaction_id":"wrk-%d","a":{"vns":["%s"],"numbers":["98%08d"],"pin_length":6},' ..
      '"b":{"numbers":["99%08d"]},"usage":"twoway"}',
      n, vn, n, n)
   return wrk.format("POST", data.path, data.headers, body)
end

-- Defined for every server so that the client does the same work against each of them.
function response(status, headers, body)
   if out and status == 200 then
      local id = body:match('"greenpin_id":"([%x-]+)"')
      if id then
         out:write(id, "\n")
      end
   end
end

done = common.done
