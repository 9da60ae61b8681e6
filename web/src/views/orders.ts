// Open orders (cancel; replace in place: the quantity and prices edited in the row) and the
// order history with each order's fills.

import type { ApiError } from "../api";
import type { Context } from "../context";
import { button, h, replace, table } from "../dom";
import { dateTime, price, qty, shares, time } from "../format";
import type { Order } from "../portfolio";

function describe(order: Order): string {
  const prices = [order.limit_price && `limit ${order.limit_price}`, order.stop_price && `stop ${order.stop_price}`].filter(Boolean);
  return `${order.type.replace(/_/g, " ")}${prices.length ? ` (${prices.join(", ")})` : ""}`;
}

export function openOrdersView(context: Context): HTMLElement {
  const { portfolio, api } = context;
  const holder = h("div", { class: "scroll" });
  const root = h("section", { class: "panel orders", "data-testid": "open-orders" }, h("h3", {}, "Open orders"), holder);
  let editing: string | null = null;
  let shown = "";

  const refusal = (error: unknown) => context.notify(`Refused: ${(error as ApiError).reason ?? String(error)}`, "refusal");

  const cancel = async (order: Order) => {
    try {
      await api.delete(`/v1/orders/${order.id}`);
      context.notify(`Order ${order.id} canceled`, "ok");
    } catch (error) {
      refusal(error);
    }
    void portfolio.refresh();
  };

  const editor = (order: Order): HTMLTableRowElement => {
    const newQty = h("input", { type: "number", min: 1, value: order.qty, "aria-label": "New quantity", "data-testid": "replace-qty" });
    const newLimit = h("input", { value: order.limit_price ?? "", inputmode: "decimal", "aria-label": "New limit price", "data-testid": "replace-limit", disabled: order.limit_price === null });
    const newStop = h("input", { value: order.stop_price ?? "", inputmode: "decimal", "aria-label": "New stop price", disabled: order.stop_price === null });
    const save = async () => {
      const body: Record<string, unknown> = {};
      if (Number(newQty.value) !== order.qty) body.qty = Number.parseInt(newQty.value, 10);
      if (order.limit_price !== null && newLimit.value.trim() !== order.limit_price) body.limit_price = newLimit.value.trim();
      if (order.stop_price !== null && newStop.value.trim() !== order.stop_price) body.stop_price = newStop.value.trim();
      if (Object.keys(body).length === 0) {
        editing = null;
        render();
        return;
      }
      try {
        const replaced = await api.patch<Order>(`/v1/orders/${order.id}`, body);
        context.notify(`Order ${order.id} replaced by ${replaced.id}`, "ok");
        editing = null;
      } catch (error) {
        refusal(error);
      }
      void portfolio.refresh();
    };
    const row = h(
      "tr",
      { class: "editing", "data-order-id": order.id },
      h("td", {}, order.symbol),
      h("td", { class: order.side }, order.side),
      h("td", {}, h("div", { class: "row" }, newLimit, newStop)),
      h("td", {}, newQty),
      h("td", { class: "num" }, shares(order.filled_qty, order.filled_fraction)),
      h("td", {}, order.time_in_force.toUpperCase()),
      h("td", {}, order.status.replace(/_/g, " ")),
      h("td", {}, button("Save", () => void save(), { class: "primary", "data-testid": "replace-save" }), button("Cancel edit", () => {
        editing = null;
        render();
      })),
    );
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter") void save();
      if (event.key === "Escape") {
        editing = null;
        render();
      }
    });
    return row;
  };

  const render = (force = true) => {
    const orders = portfolio.openOrders;
    if (!orders.some((order) => order.id === editing)) editing = null;
    const state = JSON.stringify([orders, editing]);
    if (!force && state === shown) return; // unchanged: leave the rows (and the pointer) be
    const headers = ["Symbol", "Side", "Type", "Qty", "Filled", "TIF", "Status", ""];
    const body = h("tbody");
    if (orders.length === 0) body.append(h("tr", { class: "empty" }, h("td", { colspan: headers.length }, "No open orders")));
    for (const order of orders) {
      if (order.id === editing) {
        body.append(editor(order));
        continue;
      }
      body.append(
        h(
          "tr",
          { "data-order-id": order.id },
          h("td", {}, h("a", { href: "#/trade", onclick: () => context.selectSymbol(order.symbol) }, order.symbol)),
          h("td", { class: order.side }, order.side),
          h("td", {}, describe(order)),
          h("td", { class: "num" }, shares(order.qty, order.fraction)),
          h("td", { class: "num" }, shares(order.filled_qty, order.filled_fraction)),
          h("td", {}, order.time_in_force.toUpperCase()),
          h("td", {}, order.status.replace(/_/g, " ")),
          h(
            "td",
            { class: "actions" },
            button("Replace", () => {
              editing = order.id;
              render();
            }, { "data-testid": "replace" }),
            button("Cancel", () => void cancel(order), { class: "danger", "data-testid": "cancel" }),
          ),
        ),
      );
    }
    const typing = document.activeElement?.tagName === "INPUT" && holder.contains(document.activeElement);
    if (!force && typing) return; // keep what is being typed
    shown = state;
    replace(holder, h("table", {}, h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))), body));
  };
  portfolio.on(() => render(false));
  render();
  return root;
}

export function historyView(context: Context): HTMLElement {
  const { portfolio } = context;
  const holder = h("div", { class: "scroll" });
  const root = h("section", { class: "panel history", "data-testid": "order-history" }, h("h3", {}, "Order history"), holder);
  const render = () => {
    const rows = portfolio.history.map((order) => [
      dateTime(order.updated_ts ?? order.created_ts),
      order.symbol,
      h("span", { class: order.side }, order.side),
      describe(order),
      shares(order.qty, order.fraction),
      shares(order.filled_qty, order.filled_fraction),
      price(order.avg_fill_price),
      h("span", { title: order.reject?.message ?? order.cancel_reason ?? "" }, order.status.replace(/_/g, " ")),
      order.fills.length
        ? h("ul", { class: "fills" }, ...order.fills.map((fill) => h("li", {}, `${qty(fill.qty)} @ ${fill.price} (${fill.liquidity}, fee ${fill.fee}) ${time(fill.ts)}`)))
        : order.reject?.message ?? order.cancel_reason ?? "",
    ]);
    replace(holder, table(["Updated", "Symbol", "Side", "Type", "Qty", "Filled", "Avg price", "Status", "Fills"], rows, {}, "No orders yet"));
  };
  portfolio.on(render);
  render();
  return root;
}
