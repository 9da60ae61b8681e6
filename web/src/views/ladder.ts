// The book ladder: the symbol's depth, asks above bids, with the size at each price as a bar
// and the person's own open orders beside it. Updates are drawn once per display frame, the
// newest only; a click on a price puts it into the order ticket.

import type { Context } from "../context";
import { h } from "../dom";
import { metrics } from "../metrics";
import type { DepthMessage, Level } from "../stream";

const LEVELS = 10;
const FRAME_MS = 1000 / 60;
const IDLE_MS = 1_000;

interface Row {
  element: HTMLTableRowElement;
  mine: HTMLTableCellElement;
  price: HTMLTableCellElement;
  size: HTMLTableCellElement;
  bar: HTMLDivElement;
  sizeText: HTMLSpanElement;
  orders: HTMLTableCellElement;
  key: string;
}

export function ladderView(context: Context): HTMLElement {
  const { market, portfolio } = context;
  const body = h("tbody");
  const spread = h("span", { class: "spread", "data-testid": "ladder-spread" }, "—");
  const root = h(
    "section",
    { class: "panel ladder", "data-testid": "ladder" },
    h("h3", {}, "Book ", spread),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Mine"), h("th", {}, "Price"), h("th", {}, "Size"), h("th", {}, "Orders"))), body),
  );

  const makeRow = (side: "ask" | "bid"): Row => {
    const bar = h("div", { class: `bar ${side}` });
    const sizeText = h("span");
    const row: Row = {
      element: h("tr", { class: side }),
      mine: h("td", { class: "num mine" }),
      price: h("td", { class: "num price" }),
      size: h("td", { class: "num size" }, bar, sizeText),
      bar,
      sizeText,
      orders: h("td", { class: "num" }),
      key: "",
    };
    row.element.append(row.mine, row.price, row.size, row.orders);
    row.element.addEventListener("click", () => {
      const text = row.price.textContent;
      if (text) context.fillTicket(text, side === "ask" ? "buy" : "sell");
    });
    body.append(row.element);
    return row;
  };
  const asks = Array.from({ length: LEVELS }, () => makeRow("ask")).reverse();
  const middle = h("tr", { class: "middle" }, h("td", { colspan: 4 }, ""));
  body.append(middle);
  const bids = Array.from({ length: LEVELS }, () => makeRow("bid"));

  let pending: DepthMessage | null = null;
  let drawn: DepthMessage | null = null;
  let looping = false;
  let lastFrame = 0;
  let lastUpdate = 0;

  const mineAt = (side: "buy" | "sell"): Map<string, number> => {
    const found = new Map<string, number>();
    for (const order of portfolio.openOrders) {
      if (order.symbol !== context.symbol || order.side !== side || !order.limit_price) continue;
      const key = Number(order.limit_price).toString();
      found.set(key, (found.get(key) ?? 0) + order.leaves_qty);
    }
    return found;
  };

  const fill = (rows: Row[], levels: Level[], largest: number, mine: Map<string, number>) => {
    // asks: rows[0] is the farthest from the spread; the best ask sits next to the middle.
    rows.forEach((row, index) => {
      const level = rows === asks ? levels[LEVELS - 1 - index] : levels[index];
      const own = level ? mine.get(Number(level.price).toString()) : undefined;
      const key = level ? `${level.price}|${level.qty}|${level.orders}|${own ?? ""}|${largest}` : "";
      if (key === row.key) return;
      row.key = key;
      row.price.textContent = level ? level.price : "";
      row.sizeText.textContent = level ? level.qty.toLocaleString("en-US") : "";
      row.bar.style.width = level ? `${Math.round((100 * level.qty) / largest)}%` : "0";
      row.orders.textContent = level ? String(level.orders) : "";
      row.mine.textContent = own ? own.toLocaleString("en-US") : "";
    });
  };

  const draw = (depth: DepthMessage | null) => {
    const started = performance.now();
    const bidsIn = depth?.bids ?? [];
    const asksIn = depth?.asks ?? [];
    const largest = Math.max(1, ...bidsIn.slice(0, LEVELS).map((l) => l.qty), ...asksIn.slice(0, LEVELS).map((l) => l.qty));
    fill(asks, asksIn, largest, mineAt("sell"));
    fill(bids, bidsIn, largest, mineAt("buy"));
    const best = bidsIn[0] && asksIn[0] ? (Number(asksIn[0].price) - Number(bidsIn[0].price)).toFixed(2) : null;
    spread.textContent = best === null ? "—" : `spread ${best}`;
    const elapsed = performance.now() - started;
    metrics.ladder.renders += 1;
    metrics.ladder.renderMsTotal += elapsed;
    metrics.ladder.renderMsMax = Math.max(metrics.ladder.renderMsMax, elapsed);
  };

  const frame = (now: number) => {
    if (lastFrame) {
      metrics.ladder.frames += 1;
      const missed = Math.round((now - lastFrame) / FRAME_MS) - 1;
      if (missed > 0) metrics.ladder.dropped += missed;
    }
    lastFrame = now;
    if (pending) {
      drawn = pending;
      pending = null;
      draw(drawn);
    }
    if (performance.now() - lastUpdate > IDLE_MS) {
      looping = false;
      lastFrame = 0;
      return;
    }
    requestAnimationFrame(frame);
  };

  const schedule = () => {
    lastUpdate = performance.now();
    if (!looping && document.visibilityState === "visible") {
      looping = true;
      requestAnimationFrame(frame);
    } else if (!looping) {
      drawn = pending;
      pending = null;
      draw(drawn);
    }
  };

  market.on("depth", (symbol) => {
    if (symbol !== context.symbol) return;
    metrics.ladder.updates += 1;
    if (pending) metrics.ladder.superseded += 1;
    pending = market.depth.get(symbol) ?? null;
    schedule();
  });
  portfolio.on(() => {
    for (const row of [...asks, ...bids]) row.key = "";
    pending = pending ?? drawn;
    schedule();
  });
  context.onSymbol((symbol) => {
    pending = market.depth.get(symbol) ?? null;
    drawn = null;
    schedule();
  });
  draw(null);
  return root;
}
