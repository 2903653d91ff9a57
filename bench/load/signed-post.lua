-- wrk script: posts unique, validly signed 7 KB convo.status deliveries, as FreeScout would.
-- Signs each body with HMAC-SHA1 through libcrypto (LuaJIT FFI), base64 like PHP's base64_encode.
-- Arguments after "--": <template body file> <secret> [requests per second per wrk thread, 0 = flat out] [first counter, 0]
local ffi = require("ffi")
ffi.cdef [[
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
const void *EVP_sha1(void);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
typedef struct { long tv_sec; long tv_nsec; } timespec;
int clock_gettime(int clock_id, timespec *tp);
]]
local crypto = ffi.load("crypto")

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  template = file:read("*a")
  file:close()
  -- A nonce per run and thread, so that a second run (the warm-up, then the measured run) never
  -- repeats the bodies of the first: repeats are duplicates, answered 200 without being stored.
  local uuid = assert(io.open("/proc/sys/kernel/random/uuid", "r"))
  local nonce = uuid:read("*l")
  uuid:close()
  template = template:gsub('"preview":"', '"preview":"run ' .. nonce .. ' ', 1)
  secret = args[2]
  pace = tonumber(args[3] or "0")
  -- Where in its conversations the thread starts: wrk processes loading several instances start apart, so that they
  -- spread each conversation's deliveries over the instances as a balancer does, not post it to all at the same moment.
  counter = tonumber(args[4] or "0")
  md = ffi.new("unsigned char[20]")
  md_len = ffi.new("unsigned int[1]")
  b64 = ffi.new("unsigned char[32]")
end

local function sign(body)
  crypto.HMAC(crypto.EVP_sha1(), secret, #secret, body, #body, md, md_len)
  local n = crypto.EVP_EncodeBlock(b64, md, 20)
  return ffi.string(b64, n)
end

function request()
  counter = counter + 1
  -- A unique body: conversation id spread over 10,000 conversations per thread, number unique.
  local conversation = tid * 100000 + (counter % 10000) + 1
  local number = tid * 100000000 + counter
  local body = template:gsub('^{"id":%d+,"number":%d+', '{"id":' .. conversation .. ',"number":' .. number, 1)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-FreeScout-Event"] = "convo.status",
    ["X-FreeScout-Signature"] = sign(body),
  }, body)
end

local now_ts = ffi.new("timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_ts) -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

-- Paced runs keep a schedule per thread (its connections share this state): request n of the
-- thread is due at start + n / pace, whatever the latency of the ones before, so the rate asked
-- for is the rate sent (a fixed pause after each answer would send less, the slower the server).
local scheduled = 0
local started = nil
function delay()
  if pace <= 0 then return 0 end
  local now = now_ms()
  started = started or now
  scheduled = scheduled + 1
  local due = started + scheduled * 1000 / pace
  return math.max(0, due - now)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("requests %d, non-2xx %d, socket errors %d, rate %.0f/s, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, non2xx, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
