// The order ticket: every order type and time in force, the buying power a buy needs (or the
// shares a sell needs), the halt or closed market it would meet, and the platform's answer:
// the order's status, or the refusal with its reason.
//
// Keys (outside text fields): B buy, S sell, / the symbol, Esc clears; Ctrl+Enter sends.

import type { ApiError } from "../api";
import type { Context } from "../context";
import { h, replace } from "../dom";
import { dollars, units } from "../format";
import type { Order } from "../portfolio";

const TYPES = ["limit", "market", "stop", "stop_limit", "trailing_stop"] as const;
const TIFS = ["day", "gtc", "ioc", "fok"] as const;
const TYPE_LABEL: Record<string, string> = {
  limit: "Limit",
  market: "Market",
  stop: "Stop",
  stop_limit: "Stop limit",
  trailing_stop: "Trailing stop",
};

function field(label: string, input: HTMLElement, testid: string): HTMLLabelElement {
  return h("label", { "data-field": testid }, label, input);
}

export function ticketView(context: Context): HTMLElement {
  const { market, portfolio, api } = context;
  let side: "buy" | "sell" = "buy";

  const symbol = h("select", { name: "symbol", "aria-label": "Symbol", "data-testid": "ticket-symbol" });
  const buy = h("button", { type: "button", class: "side buy active", "data-testid": "ticket-buy" }, "Buy (B)");
  const sell = h("button", { type: "button", class: "side sell", "data-testid": "ticket-sell" }, "Sell (S)");
  const type = h("select", { name: "type", "data-testid": "ticket-type" }, ...TYPES.map((t) => h("option", { value: t }, TYPE_LABEL[t])));
  const tif = h("select", { name: "time_in_force", "data-testid": "ticket-tif" }, ...TIFS.map((t) => h("option", { value: t }, t.toUpperCase())));
  const quantity = h("input", { name: "qty", type: "number", min: 1, step: 1, value: 100, required: true, "data-testid": "ticket-qty" });
  const limit = h("input", { name: "limit_price", inputmode: "decimal", placeholder: "0.00", "data-testid": "ticket-limit" });
  const stop = h("input", { name: "stop_price", inputmode: "decimal", placeholder: "0.00", "data-testid": "ticket-stop" });
  const trail = h("input", { name: "trail_price", inputmode: "decimal", placeholder: "0.00", "data-testid": "ticket-trail" });
  const limitField = field("Limit price", limit, "limit");
  const stopField = field("Stop price", stop, "stop");
  const trailField = field("Trail ($)", trail, "trail");
  const estimate = h("p", { class: "estimate", "data-testid": "ticket-estimate" });
  const state = h("p", { class: "market-state", "data-testid": "ticket-state", role: "status" });
  const answer = h("p", { class: "answer", role: "alert", "data-testid": "ticket-answer" });
  const submit = h("button", { type: "submit", class: "primary buy", "data-testid": "ticket-submit" }, "Buy");

  const form = h(
    "form",
    { class: "ticket-form", autocomplete: "off" },
    h("div", { class: "row sides" }, buy, sell),
    field("Symbol", symbol, "symbol"),
    h("div", { class: "row" }, field("Type", type, "type"), field("Time in force", tif, "tif")),
    field("Quantity", quantity, "qty"),
    limitField,
    stopField,
    trailField,
    estimate,
    state,
    submit,
    answer,
  );
  const root = h("section", { class: "panel ticket", "data-testid": "ticket" }, h("h3", {}, "Order ticket"), form);

  const setSide = (next: "buy" | "sell") => {
    side = next;
    buy.classList.toggle("active", side === "buy");
    sell.classList.toggle("active", side === "sell");
    submit.classList.toggle("buy", side === "buy");
    submit.classList.toggle("sell", side === "sell");
    render();
  };
  buy.onclick = () => setSide("buy");
  sell.onclick = () => setSide("sell");

  const render = () => {
    const kind = type.value;
    limitField.hidden = !(kind === "limit" || kind === "stop_limit");
    stopField.hidden = !(kind === "stop" || kind === "stop_limit");
    trailField.hidden = kind !== "trailing_stop";
    const current = symbol.value;
    const info = market.symbols.get(current);
    if (info) {
      quantity.step = String(info.lot_size);
      quantity.min = String(info.lot_size);
    }
    const halt = market.haltOf(current);
    const closed = market.clock && !market.clock.is_open;
    replace(
      state,
      halt ? h("span", { class: "badge halted", "data-testid": "ticket-halted" }, `${current} is halted (${halt.reason.replace(/_/g, " ")})`) : null,
      !halt && closed ? h("span", { class: "badge closed" }, "Exchange session closed: orders rest until the book trades") : null,
    );
    submit.disabled = halt !== null;
    submit.textContent = `${side === "buy" ? "Buy" : "Sell"} ${quantity.value || ""} ${current}`;
    replace(estimate, ...estimateOf(current, kind));
  };

  const estimateOf = (current: string, kind: string): (string | Node)[] => {
    const shares = Number.parseInt(quantity.value, 10);
    if (!Number.isFinite(shares) || shares <= 0) return ["Enter a quantity"];
    const quote = market.quotes.get(current);
    let reference: string | null = null;
    if (kind === "limit" || kind === "stop_limit") reference = limit.value || null;
    else if (kind === "stop") reference = stop.value || null;
    else reference = (side === "buy" ? quote?.ask?.price : quote?.bid?.price) ?? market.lastPrice(current);
    const perShare = units(reference);
    if (side === "buy") {
      const power = portfolio.account ? units(portfolio.account.buying_power) : null;
      const needed = perShare === null ? null : perShare * BigInt(shares);
      const short = needed !== null && power !== null && needed > power;
      return [
        "Buying power needed ≈ ",
        h("strong", { class: short ? "down" : "" }, needed === null ? "—" : `$${dollars(needed)}`),
        " of ",
        h("strong", {}, power === null ? "—" : `$${dollars(power)}`),
        short ? h("span", { class: "down" }, " (not enough)") : null,
      ].filter((part): part is string | HTMLElement => part !== null);
    }
    const position = portfolio.position(current);
    const free = position ? position.qty - position.qty_held_by_orders : 0;
    const proceeds = perShare === null ? "—" : `$${dollars(perShare * BigInt(shares))}`;
    return [`Shares available ${free.toLocaleString("en-US")}; proceeds ≈ `, h("strong", {}, proceeds)];
  };

  const body = (): Record<string, unknown> => {
    const order: Record<string, unknown> = {
      symbol: symbol.value,
      side,
      type: type.value,
      qty: Number.parseInt(quantity.value, 10),
      time_in_force: tif.value,
    };
    if (!limitField.hidden) order.limit_price = limit.value.trim();
    if (!stopField.hidden) order.stop_price = stop.value.trim();
    if (!trailField.hidden) order.trail_price = trail.value.trim();
    return order;
  };

  const show = (text: string, kind: "ok" | "refusal") => {
    answer.className = `answer ${kind}`;
    answer.textContent = text;
  };

  form.onsubmit = async (event) => {
    event.preventDefault();
    submit.disabled = true;
    answer.textContent = "";
    try {
      const order = await api.post<Order>("/v1/orders", body());
      if (order.status === "rejected") {
        show(`Refused: ${order.reject?.message ?? "refused"}`, "refusal");
      } else {
        const filled = order.filled_qty ? `, ${order.filled_qty} filled at ${order.avg_fill_price}` : "";
        show(`Order ${order.id} ${order.status.replace(/_/g, " ")}${filled}`, "ok");
      }
    } catch (error) {
      const refusal = error as ApiError;
      show(`Refused: ${refusal.reason ?? String(error)}`, "refusal");
      if (refusal.code && /halt/i.test(refusal.message)) void market.loadSymbols();
    } finally {
      render();
      void portfolio.refresh();
    }
  };

  for (const input of [type, tif, quantity, limit, stop, trail]) {
    input.addEventListener("input", render);
  }
  symbol.addEventListener("change", () => context.selectSymbol(symbol.value));
  context.onSymbol((next) => {
    symbol.value = next;
    answer.textContent = "";
    render();
  });
  context.onTicketFill((price, nextSide) => {
    if (type.value === "market" || type.value === "stop" || type.value === "trailing_stop") type.value = "limit";
    limit.value = price;
    if (nextSide) setSide(nextSide);
    render();
    quantity.focus();
  });
  market.on("symbols", () => {
    replace(symbol, ...[...market.symbols.keys()].map((s) => h("option", { value: s }, s)));
    symbol.value = context.symbol;
    render();
  });
  market.on("quote", (changed) => {
    if (changed === symbol.value) render();
  });
  market.on("clock", render);
  portfolio.on(render);

  document.addEventListener("keydown", (event) => {
    const target = event.target as HTMLElement;
    const typing = target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT";
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && root.isConnected) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && (!typing || root.contains(target))) {
      limit.value = stop.value = trail.value = "";
      answer.textContent = "";
      render();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !root.isConnected) return;
    if (event.key === "b" || event.key === "B") {
      setSide("buy");
      quantity.focus();
      event.preventDefault();
    } else if (event.key === "s" || event.key === "S") {
      setSide("sell");
      quantity.focus();
      event.preventDefault();
    } else if (event.key === "/") {
      symbol.focus();
      event.preventDefault();
    }
  });
  render();
  return root;
}
