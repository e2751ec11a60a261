-- wrk -s bench/get.lua URL: GET URL's path followed by each line of BENCH_PATHS in turn
-- (room ids, or "?page_size=20&start_id=N" queries), each thread starting at its own place.
-- Env: BENCH_TOKEN (the JWT), BENCH_PATHS (a file, one suffix a line), BENCH_DIR.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local counter = 0
function setup(thread)
   counter = counter + 1
   thread:set("thread_number", counter)
end

local requests = {}
local next_index = 1

function init(args)
   local headers = { Authorization = "Bearer " .. os.getenv("BENCH_TOKEN") }
   for line in io.lines(os.getenv("BENCH_PATHS")) do
      if #line > 0 then
         requests[#requests + 1] = wrk.format("GET", wrk.path .. line, headers)
      end
   end
   assert(#requests > 0, "BENCH_PATHS is empty")
   -- Threads start at different places in the list, so they do not read in lockstep.
   next_index = ((thread_number or 1) - 1) * 7919 % #requests + 1
end

function request()
   local r = requests[next_index]
   next_index = next_index % #requests + 1
   return r
end

done = bench_done
