// The market as the terminal knows it: the listed symbols with their halts, and per symbol the
// latest quote, book depth and trades from the stream; the exchange clock. Views subscribe to
// what they show.

import type { Api } from "./api";
import type { DepthMessage, Halt, MarketStream, QuoteMessage, Trade, TradesMessage } from "./stream";

export interface SymbolInfo {
  symbol: string;
  /** null: the standard ticks ($0.01 at or above $1.00, $0.0001 below). */
  tick_size: string | null;
  lot_size: number;
  last_price: string | null;
  reference_price: string | null;
  halt: Halt | null;
}

export interface Clock {
  is_open: boolean;
  next_open: string;
  next_close: string;
  timestamp: string;
}

type Topic = "symbols" | "quote" | "depth" | "trades" | "clock";
type Listener = (symbol: string) => void;

const TAPE_MAX = 200;

export class Market {
  symbols = new Map<string, SymbolInfo>();
  marketHalt: Halt | null = null;
  quotes = new Map<string, QuoteMessage>();
  depth = new Map<string, DepthMessage>();
  tape = new Map<string, Trade[]>();
  /** Per symbol: the trades of its latest update, oldest first (none for a snapshot). */
  fresh = new Map<string, Trade[]>();
  clock: Clock | null = null;
  private listeners = new Map<Topic, Set<Listener>>();

  constructor(
    private readonly api: Api,
    stream: MarketStream,
  ) {
    stream.on("quote", (message) => this.onQuote(message));
    stream.on("depth", (message) => {
      this.depth.set(message.symbol, message);
      this.emit("depth", message.symbol);
    });
    stream.on("trades", (message) => this.onTrades(message));
  }

  on(topic: Topic, listener: Listener): () => void {
    const set = this.listeners.get(topic) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(topic, set);
    return () => set.delete(listener);
  }

  private emit(topic: Topic, symbol: string): void {
    for (const listener of this.listeners.get(topic) ?? []) listener(symbol);
  }

  async loadSymbols(): Promise<void> {
    const answer = await this.api.get<{ symbols: SymbolInfo[]; market_halt: Halt | null }>(
      "/v1/symbols",
    );
    this.symbols = new Map(answer.symbols.map((info) => [info.symbol, info]));
    this.marketHalt = answer.market_halt;
    this.emit("symbols", "");
  }

  async loadClock(): Promise<void> {
    this.clock = await this.api.get<Clock>("/v2/clock");
    this.emit("clock", "");
  }

  /** The halt in force on `symbol` now (its own, or the whole market's), if any. */
  haltOf(symbol: string): Halt | null {
    const live = this.quotes.get(symbol);
    const halt =
      live && live.halt !== undefined ? live.halt : (this.symbols.get(symbol)?.halt ?? null);
    const nowNs = Date.now() * 1e6;
    if (halt && (halt.until_ts === null || halt.until_ts > nowNs)) return halt;
    const market = this.marketHalt;
    if (market && (market.until_ts === null || market.until_ts > nowNs)) return market;
    return null;
  }

  lastPrice(symbol: string): string | null {
    const trades = this.tape.get(symbol);
    if (trades && trades.length) return trades[0].price;
    return this.symbols.get(symbol)?.last_price ?? this.symbols.get(symbol)?.reference_price ?? null;
  }

  private onQuote(message: QuoteMessage): void {
    this.quotes.set(message.symbol, message);
    const info = this.symbols.get(message.symbol);
    if (info && message.halt !== undefined) info.halt = message.halt;
    this.emit("quote", message.symbol);
  }

  private onTrades(message: TradesMessage): void {
    const newestFirst = [...message.trades].reverse();
    const kept = message.snapshot ? newestFirst : [...newestFirst, ...(this.tape.get(message.symbol) ?? [])];
    this.tape.set(message.symbol, kept.slice(0, TAPE_MAX));
    this.fresh.set(message.symbol, message.snapshot ? [] : message.trades);
    this.emit("trades", message.symbol);
  }
}
