// Quotes for a watchlist of symbols (kept in this browser); a click shows a symbol.

import type { Context } from "../context";
import { button, h, replace } from "../dom";
import { price, qty } from "../format";

const STORAGE_KEY = "tradingfloor.watchlist";

export function watchlistView(context: Context): HTMLElement {
  const { market, stream } = context;
  const body = h("tbody");
  const root = h(
    "section",
    { class: "panel watchlist", "data-testid": "watchlist" },
    h("h3", {}, "Watchlist"),
    h("table", {}, h("thead", {}, h("tr", {}, ...["Symbol", "Bid", "Ask", "Last"].map((x) => h("th", {}, x)))), body),
  );
  const adder = h("select", { "aria-label": "Add a symbol to the watchlist" });
  root.append(h("div", { class: "row" }, adder, button("Add", () => add(adder.value))));

  let symbols: string[] = [];
  try {
    symbols = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") ?? [];
  } catch {
    symbols = [];
  }
  const rows = new Map<string, HTMLTableRowElement>();

  const save = () => localStorage.setItem(STORAGE_KEY, JSON.stringify(symbols));
  const add = (symbol: string) => {
    if (!symbol || symbols.includes(symbol)) return;
    symbols.push(symbol);
    save();
    stream.subscribe([symbol], ["quotes", "trades"]);
    render();
  };
  const remove = (symbol: string) => {
    symbols = symbols.filter((s) => s !== symbol);
    save();
    render();
  };

  const cells = (symbol: string) => {
    const quote = market.quotes.get(symbol);
    const halt = market.haltOf(symbol);
    return [
      h(
        "td",
        { class: "symbol" },
        h("a", { href: "#/trade", onclick: () => context.selectSymbol(symbol) }, symbol),
        halt ? h("span", { class: "badge halted", title: `halted (${halt.reason.replace(/_/g, " ")})` }, "H") : null,
        button("×", () => remove(symbol), { class: "link remove", "aria-label": `Remove ${symbol}` }),
      ),
      h("td", { class: "num bid", title: quote?.bid ? `${qty(quote.bid.qty)} shares` : "" }, price(quote?.bid?.price)),
      h("td", { class: "num ask", title: quote?.ask ? `${qty(quote.ask.qty)} shares` : "" }, price(quote?.ask?.price)),
      h("td", { class: "num" }, price(market.lastPrice(symbol))),
    ];
  };

  const render = () => {
    rows.clear();
    replace(body);
    for (const symbol of symbols) {
      const row = h("tr", { "data-symbol": symbol }, ...cells(symbol));
      rows.set(symbol, row);
      body.append(row);
    }
    replace(adder, ...[...market.symbols.keys()].filter((s) => !symbols.includes(s)).map((s) => h("option", { value: s }, s)));
  };

  const update = (symbol: string) => {
    const row = rows.get(symbol);
    if (row) replace(row, ...cells(symbol));
  };

  market.on("symbols", () => {
    if (symbols.length === 0) {
      symbols = [...market.symbols.keys()].slice(0, 8);
      save();
    }
    symbols = symbols.filter((symbol) => market.symbols.has(symbol));
    stream.subscribe(symbols, ["quotes", "trades"]);
    render();
  });
  market.on("quote", update);
  market.on("trades", update);
  render();
  return root;
}
