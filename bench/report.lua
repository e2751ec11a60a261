-- Shared by the bench's wrk scripts (loaded with dofile): one machine-readable line at the end.
-- wrk counts any answer outside 2xx/3xx in summary.errors.status ("Non-2xx or 3xx responses").
function bench_done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
