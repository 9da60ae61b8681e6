// The account: balances, positions with unrealized and realized P&L, and activities.

import type { Context } from "../context";
import { h, replace, table } from "../dom";
import { dateTime, money, price, qty, shares, sign, usd } from "../format";

export function balancesView(context: Context): HTMLElement {
  const { portfolio } = context;
  const holder = h("dl", { class: "balances" });
  const root = h("section", { class: "panel balances-panel", "data-testid": "balances" }, h("h3", {}, "Account"), holder);
  const render = () => {
    const account = portfolio.account;
    if (!account) {
      replace(holder, h("dt", {}, "Account"), h("dd", {}, portfolio.error ?? "Loading…"));
      return;
    }
    const items: [string, string, string?][] = [
      ["Account", `${account.account} (${account.kind}, ${account.status})`],
      ["Equity", usd(account.equity), "equity"],
      ["Buying power", usd(account.buying_power), "buying-power"],
      ["Cash", usd(account.cash)],
      ["Settled cash", usd(account.settled_cash)],
      ["Unsettled cash", usd(account.unsettled_cash)],
      ["Held for orders", usd(account.held_for_orders)],
      ["Positions value", usd(account.positions_value)],
      ["Withdrawable", usd(account.withdrawable)],
      ["Fees", usd(account.fees)],
      ["Day trades", `${account.day_trades}${account.pattern_day_trader ? " (pattern day trader)" : ""}`],
      ["Open orders", String(account.open_orders)],
    ];
    replace(holder, ...items.flatMap(([label, value, testid]) => [h("dt", {}, label), h("dd", { "data-testid": testid ?? null }, value)]));
  };
  portfolio.on(render);
  render();
  return root;
}

export function positionsView(context: Context): HTMLElement {
  const { portfolio } = context;
  const holder = h("div", { class: "scroll" });
  const root = h("section", { class: "panel positions", "data-testid": "positions" }, h("h3", {}, "Positions"), holder);
  const render = () => {
    const rows = portfolio.positions.map((position) => [
      h("a", { href: "#/trade", onclick: () => context.selectSymbol(position.symbol) }, position.symbol),
      shares(position.qty, position.fraction),
      qty(position.qty_held_by_orders),
      price(position.avg_cost),
      price(position.market_price),
      money(position.market_value),
      h("span", { class: sign(position.unrealized_pl) }, money(position.unrealized_pl)),
      h("span", { class: sign(position.realized_pl) }, money(position.realized_pl)),
      qty(position.settled_qty),
    ]);
    replace(holder, table(["Symbol", "Qty", "Held", "Avg cost", "Price", "Value", "Unrealized P&L", "Realized P&L", "Settled"], rows, {}, "No positions"));
  };
  portfolio.on(render);
  render();
  return root;
}

export function activitiesView(context: Context): HTMLElement {
  const { portfolio } = context;
  const holder = h("div", { class: "scroll" });
  const root = h("section", { class: "panel activities", "data-testid": "activities" }, h("h3", {}, "Activities"), holder);
  const render = () => {
    const rows = portfolio.activities.map((activity) => [
      dateTime(activity.ts),
      activity.kind.replace(/_/g, " "),
      activity.symbol ?? "",
      activity.qty === null ? "" : qty(activity.qty),
      price(activity.price),
      activity.amount === null ? "" : h("span", { class: sign(activity.amount) }, money(activity.amount)),
      activity.description,
    ]);
    replace(holder, table(["Time", "Kind", "Symbol", "Qty", "Price", "Amount", "Description"], rows, {}, "No activity yet"));
  };
  portfolio.on(render);
  render();
  return root;
}
