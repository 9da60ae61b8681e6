// The trades tape: the symbol's latest trades, newest on top, colored by the side that took.

import type { Context } from "../context";
import { h, replace } from "../dom";
import { time } from "../format";

const SHOWN = 40;

export function tapeView(context: Context): HTMLElement {
  const { market } = context;
  const body = h("tbody");
  const root = h(
    "section",
    { class: "panel tape", "data-testid": "tape" },
    h("h3", {}, "Trades"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Price"), h("th", {}, "Size"))), body),
  );
  const render = () => {
    const trades = (market.tape.get(context.symbol) ?? []).slice(0, SHOWN);
    replace(
      body,
      ...trades.map((trade) =>
        h(
          "tr",
          { class: trade.aggressor, "data-trade-id": trade.trade_id },
          h("td", {}, time(trade.ts)),
          h("td", { class: "num" }, trade.price),
          h("td", { class: "num" }, trade.qty.toLocaleString("en-US")),
        ),
      ),
    );
  };
  market.on("trades", (symbol) => {
    if (symbol === context.symbol) render();
  });
  context.onSymbol(render);
  render();
  return root;
}
