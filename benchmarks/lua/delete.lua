-- DELETE /v1/tenants/{tenant}/greenpin/{id}, each id once. Past the last id the script starts
-- over, and the mock answers those repeats with errors: run.py supplies enough ids for the run
-- and counts a run that ran out as invalid.
--
--   wrk ... -s delete.lua URL -- DATA_FILE NTHREADS

package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup

init, request = common.by_id("DELETE")

done = common.done
