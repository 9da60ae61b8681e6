-- wrk script: POST /v1/orders with 1-share IOC limit orders, buys and sells in turn, from two
-- traders per market. `tradingfloor bench wrk` (and `bench cluster`) sets the variables below,
-- lists each symbol and rests a large bid (the buyer's) and a large ask (the seller's): each
-- buy is priced at the ask and each sell at the bid, so every order takes one share from the
-- other trader's resting order, and none trades with its own trader (self-trade prevention).
-- IOC never rests, so the book and the open-order counts stay as they are; were the resting
-- orders used up, the orders would be canceled unfilled, still 200.
--
--   TF_BENCH_SYMBOL                           the symbol
--   TF_BENCH_BUY_PRICE, TF_BENCH_SELL_PRICE   limit prices as the API takes them, e.g. "10.01"
--   TF_BENCH_BUYER_KEY_ID, TF_BENCH_BUYER_SECRET, TF_BENCH_SELLER_KEY_ID,
--   TF_BENCH_SELLER_SECRET                    the traders' API keys (trade scope)
--   TF_BENCH_MARKETS                          optional: how many markets (default 1); market i
--                                             >= 2 has the same seven variables suffixed _i
--                                             (TF_BENCH_SYMBOL_2, ...). Each thread sends a buy
--                                             and a sell of market 1, then of market 2, ...,
--                                             round and round, so every market gets the same
--                                             share of the orders.
--
-- Each thread counts the answers that are not 2xx, by status and code; done() prints them per
-- thread, then one line of figures that `bench wrk` reads (latencies in microseconds, from
-- wrk's histogram).

local threads = {}

local function need(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error(name .. " is not set: see the top of this script")
  end
  return value
end

local NAMES = { "TF_BENCH_SYMBOL", "TF_BENCH_BUY_PRICE", "TF_BENCH_SELL_PRICE",
                "TF_BENCH_BUYER_KEY_ID", "TF_BENCH_BUYER_SECRET", "TF_BENCH_SELLER_KEY_ID",
                "TF_BENCH_SELLER_SECRET" }

local function markets()
  local text = os.getenv("TF_BENCH_MARKETS")
  if text == nil or text == "" then
    return 1
  end
  local count = tonumber(text)
  if count == nil or count < 1 or count ~= math.floor(count) then
    error("TF_BENCH_MARKETS must be a whole number >= 1, not " .. text)
  end
  return count
end

-- The variable `name` of market `index`: market 1's has no suffix.
local function market_need(name, index)
  if index == 1 then
    return need(name)
  end
  return need(name .. "_" .. index)
end

local function order(symbol, side, price, key_id, secret)
  local body = string.format(
    '{"symbol":"%s","side":"%s","type":"limit","qty":1,"limit_price":"%s",'
      .. '"time_in_force":"ioc"}',
    symbol, side, price
  )
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key-Id"] = key_id,
    ["X-API-Secret"] = secret,
  }
  return wrk.format("POST", "/v1/orders", headers, body)
end

-- In the main state, once per thread: checked here so that a missing variable stops wrk
-- before it connects.
function setup(thread)
  for index = 1, markets() do
    for _, name in ipairs(NAMES) do
      market_need(name, index)
    end
  end
  table.insert(threads, thread)
  thread:set("number", #threads)
end

-- In each thread's state: the requests are built once, a buy then a sell per market.
function init(args)
  requests = {}
  for index = 1, markets() do
    local function var(name)
      return market_need(name, index)
    end
    local symbol = var("TF_BENCH_SYMBOL")
    table.insert(requests, order(symbol, "buy", var("TF_BENCH_BUY_PRICE"),
                                 var("TF_BENCH_BUYER_KEY_ID"), var("TF_BENCH_BUYER_SECRET")))
    table.insert(requests, order(symbol, "sell", var("TF_BENCH_SELL_PRICE"),
                                 var("TF_BENCH_SELLER_KEY_ID"), var("TF_BENCH_SELLER_SECRET")))
  end
  sent = 0
  answers = 0
  non2xx = 0
  refused = {}
end

function request()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end

function response(status, headers, body)
  answers = answers + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    -- By status and the platform's code in the body ({"code": ..., "message": ...}).
    local code = body and string.match(body, '"code"%s*:%s*(%d+)') or "-"
    local key = status .. " code " .. code
    refused[key] = (refused[key] or 0) + 1
  end
end

-- "503 code 5034: 3, 403 code 2011: 1", or "" when every answer was 2xx.
local function refusals(counts)
  local parts = {}
  for key, count in pairs(counts) do
    table.insert(parts, key .. ": " .. count)
  end
  table.sort(parts)
  return table.concat(parts, ", ")
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    local count = thread:get("non2xx")
    local line = string.format("thread %d: %d answers, %d non-2xx",
                               thread:get("number"), thread:get("answers"), count)
    if count > 0 then
      line = line .. " (" .. refusals(thread:get("refused")) .. ")"
    end
    print(line)
    total = total + count
  end
  local errors = summary.errors
  print(string.format(
    "tf-bench requests=%d duration_us=%d non2xx=%d connect_errors=%d read_errors=%d "
      .. "write_errors=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d p99.9_us=%d max_us=%d",
    summary.requests, summary.duration, total, errors.connect, errors.read, errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max
  ))
end
