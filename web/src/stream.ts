// The market-data WebSocket (`/v1/market-data`): one connection for every symbol the terminal
// shows, reconnected with backoff, each (symbol, channel) checked for gaps by its sequence
// number (a gap asks for a fresh snapshot by subscribing again).

import type { Session } from "./api";

export interface Level {
  price: string;
  qty: number;
  orders: number;
}

export interface Halt {
  reason: string;
  until_ts: number | null;
}

export interface QuoteMessage {
  type: "quote";
  symbol: string;
  seq: number;
  snapshot: boolean;
  bid: Level | null;
  ask: Level | null;
  halt?: Halt | null;
  ts: number;
  published_ts: number;
}

export interface DepthMessage {
  type: "depth";
  symbol: string;
  seq: number;
  snapshot: boolean;
  bids: Level[];
  asks: Level[];
  ts: number;
  published_ts: number;
}

export interface Trade {
  trade_id: number;
  price: string;
  qty: number;
  aggressor: "buy" | "sell";
  ts: number;
}

export interface TradesMessage {
  type: "trades";
  symbol: string;
  seq: number;
  snapshot: boolean;
  trades: Trade[];
  gap: number;
  ts: number;
  published_ts: number;
}

type Message =
  | QuoteMessage
  | DepthMessage
  | TradesMessage
  | { type: "subscribed" | "unsubscribed"; symbols: string[]; channels: string[] }
  | { type: "error"; message: string; symbol?: string };

export type Channel = "quotes" | "trades" | "depth";
export type Connection = "connecting" | "live" | "reconnecting" | "offline";

type Handlers = {
  quote: (message: QuoteMessage) => void;
  depth: (message: DepthMessage) => void;
  trades: (message: TradesMessage) => void;
  status: (state: Connection, detail: string) => void;
  error: (message: string, symbol?: string) => void;
};

const CHANNEL_OF = { quote: "quotes", depth: "depth", trades: "trades" } as const;
const BACKOFF_MS = [250, 500, 1_000, 2_000, 4_000, 8_000];

export class MarketStream {
  state: Connection = "connecting";
  gaps = 0;
  private socket: WebSocket | null = null;
  private wanted = new Map<string, Set<Channel>>();
  private lastSeq = new Map<string, number>();
  private attempt = 0;
  private retryTimer: number | undefined;
  private closed = false;
  private handlers: { [K in keyof Handlers]?: Handlers[K][] } = {};

  constructor(private readonly session: Session) {}

  on<K extends keyof Handlers>(kind: K, handler: Handlers[K]): void {
    const list = (this.handlers[kind] ?? []) as Handlers[K][];
    list.push(handler);
    this.handlers[kind] = list as never;
  }

  private emit<K extends keyof Handlers>(kind: K, ...args: Parameters<Handlers[K]>): void {
    for (const handler of (this.handlers[kind] ?? []) as Handlers[K][]) {
      (handler as unknown as (...values: Parameters<Handlers[K]>) => void)(...args);
    }
  }

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    window.clearTimeout(this.retryTimer);
    this.socket?.close(1000, "signed out");
    this.socket = null;
  }

  subscribe(symbols: string[], channels: Channel[]): void {
    const fresh: string[] = [];
    for (const symbol of symbols) {
      const mine = this.wanted.get(symbol) ?? new Set<Channel>();
      if (channels.some((channel) => !mine.has(channel))) fresh.push(symbol);
      for (const channel of channels) mine.add(channel);
      this.wanted.set(symbol, mine);
    }
    if (fresh.length) this.send({ action: "subscribe", symbols: fresh, channels });
  }

  unsubscribe(symbols: string[], channels: Channel[]): void {
    for (const symbol of symbols) {
      const mine = this.wanted.get(symbol);
      if (!mine) continue;
      for (const channel of channels) {
        mine.delete(channel);
        this.lastSeq.delete(`${symbol}/${channel}`);
      }
      if (mine.size === 0) this.wanted.delete(symbol);
    }
    this.send({ action: "unsubscribe", symbols, channels });
  }

  private send(message: unknown): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private setState(state: Connection, detail = ""): void {
    this.state = state;
    this.emit("status", state, detail);
  }

  private connect(): void {
    const token = this.session.tokens?.access_token;
    if (!token || this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/market-data?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      performance.mark("tradingfloor:stream-open");
      this.attempt = 0;
      this.lastSeq.clear();
      this.setState("live");
      const byChannels = new Map<string, string[]>();
      for (const [symbol, channels] of this.wanted) {
        const key = [...channels].sort().join(",");
        byChannels.set(key, [...(byChannels.get(key) ?? []), symbol]);
      }
      for (const [key, symbols] of byChannels) {
        this.send({ action: "subscribe", symbols, channels: key.split(",") });
      }
    };
    socket.onmessage = (event) => this.receive(String(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) {
        this.setState("offline");
        return;
      }
      const detail = event.reason || (event.code === 1006 ? "connection lost" : `closed (${event.code})`);
      this.setState("reconnecting", detail);
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.retryTimer = window.setTimeout(async () => {
        if (event.code === 1008) await this.session.refresh(); // a token that expired
        this.connect();
      }, delay);
    };
  }

  private receive(frame: string): void {
    let messages: Message[];
    try {
      messages = JSON.parse(frame) as Message[];
    } catch {
      return;
    }
    for (const message of messages) {
      switch (message.type) {
        case "quote":
        case "depth":
        case "trades":
          if (this.inOrder(message)) this.emit(message.type, message as never);
          break;
        case "error":
          if (message.symbol) this.wanted.delete(message.symbol); // not listed (any more)
          this.emit("error", message.message, message.symbol);
          break;
        default:
          break;
      }
    }
  }

  /** False for a message behind one already seen; a gap is counted and a snapshot asked for. */
  private inOrder(message: QuoteMessage | DepthMessage | TradesMessage): boolean {
    const channel = CHANNEL_OF[message.type];
    const key = `${message.symbol}/${channel}`;
    const last = this.lastSeq.get(key);
    if (!message.snapshot && last !== undefined) {
      if (message.seq <= last) return false;
      if (message.seq !== last + 1) {
        this.gaps += 1;
        this.lastSeq.delete(key);
        this.send({ action: "unsubscribe", symbols: [message.symbol], channels: [channel] });
        this.send({ action: "subscribe", symbols: [message.symbol], channels: [channel] });
        return false;
      }
    }
    this.lastSeq.set(key, message.seq);
    return true;
  }
}
