// The signed-in account: balances, positions and orders, read from the REST API every few
// seconds and at once after the terminal sends a command.

import type { Api } from "./api";

export interface Account {
  account: string;
  kind: string;
  status: string;
  cash: string;
  settled_cash: string;
  unsettled_cash: string;
  held_for_orders: string;
  buying_power: string;
  withdrawable: string;
  positions_value: string;
  equity: string;
  fees: string;
  day_trades: number;
  pattern_day_trader: boolean;
  open_orders: number;
}

export interface Position {
  symbol: string;
  qty: number;
  qty_held_by_orders: number;
  avg_cost: string;
  cost_basis: string;
  market_price: string;
  market_value: string;
  unrealized_pl: string;
  realized_pl: string;
  settled_qty: number;
  /** Nano-shares beyond `qty` (only when the position holds a fraction). */
  fraction?: number;
}

export interface Fill {
  trade_id: number;
  price: string;
  qty: number;
  fee: string;
  liquidity: string;
  ts?: number;
}

export interface Order {
  id: string;
  client_order_id: string | null;
  symbol: string;
  side: string;
  type: string;
  time_in_force: string;
  qty: number;
  filled_qty: number;
  leaves_qty: number;
  limit_price: string | null;
  stop_price: string | null;
  avg_fill_price: string | null;
  status: string;
  reject: { code: number; message: string } | null;
  cancel_reason: string | null;
  replaced_by: string | null;
  replaces: string | null;
  created_ts?: number;
  updated_ts?: number;
  fills: Fill[];
  /** Nano-shares asked beyond `qty`, and those filled (fractional orders). */
  fraction?: number;
  filled_fraction?: number;
}

export interface Activity {
  id: string;
  seq: number;
  ts: number;
  kind: string;
  symbol: string | null;
  qty: number | null;
  price: string | null;
  amount: string | null;
  order_id: string | null;
  description: string;
}

type Listener = () => void;

const POLL_MS = 2_000;

export class Portfolio {
  account: Account | null = null;
  positions: Position[] = [];
  openOrders: Order[] = [];
  history: Order[] = [];
  activities: Activity[] = [];
  error: string | null = null;
  private listeners = new Set<Listener>();
  private timer: number | undefined;
  private wantHistory = false;

  constructor(private readonly api: Api) {}

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    void this.refresh();
  }

  stop(): void {
    window.clearTimeout(this.timer);
  }

  /** Also read the order history and the activities (the portfolio page shows them). */
  withHistory(on: boolean): void {
    this.wantHistory = on;
    if (on) void this.refresh();
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const reads: Promise<unknown>[] = [
        this.api.get<Account>("/v1/account").then((account) => (this.account = account)),
        this.api.get<Position[]>("/v1/positions").then((positions) => (this.positions = positions)),
        this.api
          .get<{ orders: Order[] }>("/v1/orders?status=open&limit=200")
          .then((answer) => (this.openOrders = answer.orders)),
      ];
      if (this.wantHistory) {
        reads.push(
          this.api
            .get<{ orders: Order[] }>("/v1/orders?status=closed&limit=100&fills=true")
            .then((answer) => (this.history = answer.orders)),
          this.api
            .get<Activity[]>("/v1/activities?limit=200&direction=desc")
            .then((rows) => (this.activities = rows)),
        );
      }
      await Promise.all(reads);
      this.error = null;
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    }
    for (const listener of this.listeners) listener();
    this.timer = window.setTimeout(() => void this.refresh(), POLL_MS);
  }

  position(symbol: string): Position | undefined {
    return this.positions.find((position) => position.symbol === symbol);
  }
}
