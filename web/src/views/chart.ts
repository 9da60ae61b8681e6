// The candlestick chart with volume (TradingView's lightweight-charts, bundled): the bars the
// platform keeps, then each trade from the stream folded into the newest bar.

import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";

import type { Context } from "../context";
import { button, h } from "../dom";

interface BarJson {
  start_ts: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: number;
}

interface Candle {
  time: UTCTimestamp;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

const TIMEFRAMES: Record<string, number> = { "1Min": 60, "5Min": 300, "15Min": 900, "1Hour": 3600 };
const UP = "#26a69a";
const DOWN = "#ef5350";

export function chartView(context: Context): HTMLElement {
  const { market, api } = context;
  const holder = h("div", { class: "chart-holder", "data-testid": "chart" });
  let timeframe = "1Min";
  const frames = h(
    "div",
    { class: "row frames" },
    ...Object.keys(TIMEFRAMES).map((name) =>
      button(name, () => {
        timeframe = name;
        for (const child of frames.children) child.classList.toggle("active", child.textContent === name);
        void load();
      }, { class: name === timeframe ? "active" : "" }),
    ),
  );
  const root = h("section", { class: "panel chart" }, h("h3", {}, "Chart ", frames), holder);

  let chart: IChartApi | null = null;
  let candles: ISeriesApi<"Candlestick"> | null = null;
  let volume: ISeriesApi<"Histogram"> | null = null;
  let last: Candle | null = null;
  let loading = 0;

  const ensure = () => {
    if (chart) return;
    chart = createChart(holder, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#11161d" }, textColor: "#c9d1d9", attributionLogo: false },
      grid: { vertLines: { color: "#1f2630" }, horzLines: { color: "#1f2630" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.25 } },
    });
    candles = chart.addSeries(CandlestickSeries, { upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false });
    volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume" });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  };

  const volumeBar = (candle: Candle) => ({
    time: candle.time,
    value: candle.volume,
    color: candle.close >= candle.open ? `${UP}80` : `${DOWN}80`,
  });

  const load = async () => {
    ensure();
    const ticket = ++loading;
    const symbol = context.symbol;
    if (!symbol) return;
    try {
      const answer = await api.get<{ bars: BarJson[] }>(`/v1/bars/${encodeURIComponent(symbol)}?timeframe=${timeframe}&limit=500`);
      if (ticket !== loading) return;
      const data = answer.bars.map(
        (bar): Candle => ({
          time: Math.floor(bar.start_ts / 1e9) as UTCTimestamp,
          open: Number(bar.open),
          high: Number(bar.high),
          low: Number(bar.low),
          close: Number(bar.close),
          volume: bar.volume,
        }),
      );
      candles!.setData(data);
      volume!.setData(data.map(volumeBar));
      last = data.length ? { ...data[data.length - 1] } : null;
    } catch (error) {
      context.notify(`Chart: ${error instanceof Error ? error.message : String(error)}`, "refusal");
    }
  };

  market.on("trades", (symbol) => {
    if (symbol !== context.symbol || !candles || !volume) return;
    const seconds = TIMEFRAMES[timeframe];
    for (const trade of market.fresh.get(symbol) ?? []) {
      const time = (Math.floor(trade.ts / 1e9 / seconds) * seconds) as UTCTimestamp;
      const tradePrice = Number(trade.price);
      if (last && time < last.time) continue;
      if (!last || time > last.time) {
        last = { time, open: tradePrice, high: tradePrice, low: tradePrice, close: tradePrice, volume: 0 };
      }
      last.high = Math.max(last.high, tradePrice);
      last.low = Math.min(last.low, tradePrice);
      last.close = tradePrice;
      last.volume += trade.qty;
      candles.update({ ...last });
      volume.update(volumeBar(last));
    }
  });
  context.onSymbol(() => void load());
  return root;
}
