-- wrk script: POST /v1/orders with 1-share IOC limit orders, buys and sells in turn, from two
-- traders. `tradingfloor bench wrk` sets the variables below, lists the symbol and rests a
-- large bid (the buyer's) and a large ask (the seller's): each buy is priced at the ask and
-- each sell at the bid, so every order takes one share from the other trader's resting order,
-- and none trades with its own trader (self-trade prevention). IOC never rests, so the book
-- and the open-order counts stay as they are; were the resting orders used up, the orders
-- would be canceled unfilled, still 200.
--
--   TF_BENCH_SYMBOL                           the symbol
--   TF_BENCH_BUY_PRICE, TF_BENCH_SELL_PRICE   limit prices as the API takes them, e.g. "10.01"
--   TF_BENCH_BUYER_KEY_ID, TF_BENCH_BUYER_SECRET, TF_BENCH_SELLER_KEY_ID,
--   TF_BENCH_SELLER_SECRET                    the traders' API keys (trade scope)
--
-- Each thread counts the answers that are not 2xx; done() prints them per thread, then one
-- line of figures that `bench wrk` reads (latencies in microseconds, from wrk's histogram).

local threads = {}

local function need(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error(name .. " is not set: see the top of this script")
  end
  return value
end

local function order(side, price, key_id, secret)
  local body = string.format(
    '{"symbol":"%s","side":"%s","type":"limit","qty":1,"limit_price":"%s",'
      .. '"time_in_force":"ioc"}',
    need("TF_BENCH_SYMBOL"), side, price
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
  for _, name in ipairs({ "TF_BENCH_SYMBOL", "TF_BENCH_BUY_PRICE", "TF_BENCH_SELL_PRICE",
                          "TF_BENCH_BUYER_KEY_ID", "TF_BENCH_BUYER_SECRET",
                          "TF_BENCH_SELLER_KEY_ID", "TF_BENCH_SELLER_SECRET" }) do
    need(name)
  end
  table.insert(threads, thread)
  thread:set("number", #threads)
end

-- In each thread's state: the two requests are built once.
function init(args)
  buy = order("buy", need("TF_BENCH_BUY_PRICE"), need("TF_BENCH_BUYER_KEY_ID"),
              need("TF_BENCH_BUYER_SECRET"))
  sell = order("sell", need("TF_BENCH_SELL_PRICE"), need("TF_BENCH_SELLER_KEY_ID"),
               need("TF_BENCH_SELLER_SECRET"))
  sent = 0
  answers = 0
  non2xx = 0
end

function request()
  sent = sent + 1
  if sent % 2 == 1 then
    return buy
  end
  return sell
end

function response(status, headers, body)
  answers = answers + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    local count = thread:get("non2xx")
    print(string.format("thread %d: %d answers, %d non-2xx",
                        thread:get("number"), thread:get("answers"), count))
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
