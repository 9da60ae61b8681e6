// What every view shares: the API, the session, the market, the account, the chosen symbol,
// and the notices shown to the person.

import type { Api, Session } from "./api";
import type { Market } from "./market";
import type { Portfolio } from "./portfolio";
import type { MarketStream } from "./stream";

export interface Context {
  api: Api;
  session: Session;
  stream: MarketStream;
  market: Market;
  portfolio: Portfolio;
  /** The symbol the trade page shows (chart, ladder, tape, ticket). */
  symbol: string;
  selectSymbol(symbol: string): void;
  onSymbol(listener: (symbol: string) => void): void;
  notify(text: string, kind?: "info" | "ok" | "refusal"): void;
  /** Put a price (and side) into the order ticket, as a click on the ladder does. */
  fillTicket(price: string, side?: "buy" | "sell"): void;
  onTicketFill(listener: (price: string, side?: "buy" | "sell") => void): void;
}
