-- GET /v1/tenants/{tenant}/greenpin/{id}, cycling through the ids of allocations created before.
--
--   wrk ... -s get.lua URL -- DATA_FILE NTHREADS

package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup

init, request = common.by_id("GET")

done = common.done
