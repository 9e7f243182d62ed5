-- GET /v1/tenants/{tenant}/greenpin/{id}, cycling through the ids of allocations created before.
--
--   wrk ... -s get.lua URL -- DATA_FILE NTHREADS

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
   return wrk.format("GET", path, data.headers)
end

done = common.done
