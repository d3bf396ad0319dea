-- wrk script: GET /v1/search with queries read from QUERIES (one URL-encoded query string a
-- line, e.g. q=Halima+Aguti+2012-03-04) and the API key from KEY. Requests cycle through the
-- queries; every thread starts at a different line.
local queries = {}
local key = os.getenv("KEY")
for line in io.lines(os.getenv("QUERIES")) do
  queries[#queries + 1] = line
end
local counter = 0
local thread_count = 0

function setup(thread)
  thread:set("offset", thread_count * 7919)
  thread_count = thread_count + 1
end

function request()
  counter = counter + 1
  local line = queries[((offset or 0) + counter) % #queries + 1]
  return wrk.format("GET", "/v1/search?" .. line .. "&limit=10", {["Authorization"] = "Bearer " .. key})
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.read + summary.errors.timeout))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%g %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
