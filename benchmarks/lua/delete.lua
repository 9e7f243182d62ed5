-- DELETE /v1/tenants/{tenant}/greenpin/{id}, each id once. Past the last id the script starts
-- over, and the mock answers those repeats with errors: run.py supplies enough ids for the run
-- and counts a run that ran out as invalid.
--
--   wrk ... -s delete.lua URL -- DATA_FILE NTHREADS

package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup

local data, index, step, paths

function init(args)
   data = common.load(args)
   step = tonumber(args[2]) or 1
   index = tid
   paths = {}
   for i, id in ipairs(data.ids) do
      paths[i] = data.path .. "/" .. id
   end
end

function request()
   local path = paths[(index % #paths) + 1]
   index = index + step
   return wrk.format("DELETE", path, data.headers)
end

done = common.done
