-- wrk -s bench/post.lua URL: POST a new instant room to URL's path, with the bench's bearer JWT.
-- Env: BENCH_TOKEN (the JWT), BENCH_DIR (this folder, for report.lua).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.body = '{"display_name": "Bench room", "type": "instant"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

done = bench_done
