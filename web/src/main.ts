// The terminal's entry: sign in, then the trade, portfolio and admin pages over one market
// stream and one account view, with the connection's, the market's and the session's states
// always in sight.

import "./styles.css";

import { Api, ApiError, Session } from "./api";
import type { Context } from "./context";
import { button, h, replace } from "./dom";
import { Market } from "./market";
import { markFirstQuote, markFirstRender, metrics } from "./metrics";
import { Portfolio } from "./portfolio";
import { MarketStream } from "./stream";
import { activitiesView, balancesView, positionsView } from "./views/account";
import { adminView } from "./views/admin";
import { chartView } from "./views/chart";
import { ladderView } from "./views/ladder";
import { loginView } from "./views/login";
import { historyView, openOrdersView } from "./views/orders";
import { tapeView } from "./views/tape";
import { ticketView } from "./views/ticket";
import { watchlistView } from "./views/watchlist";

const app = document.getElementById("app")!;
const session = new Session();
const api = new Api(session);
const SYMBOL_KEY = "tradingfloor.symbol";

function signIn(): void {
  replace(app, loginView(session, () => location.reload()));
  markFirstRender();
}

async function logOut(): Promise<void> {
  const refresh = session.tokens?.refresh_token;
  if (refresh) {
    try {
      await Api.signIn("/v1/auth/logout", { refresh_token: refresh });
    } catch {
      // the session ends here either way
    }
  }
  session.end();
}

function terminal(): void {
  const stream = new MarketStream(session);
  const market = new Market(api, stream);
  const portfolio = new Portfolio(api);
  const symbolListeners: Array<(symbol: string) => void> = [];
  const fillListeners: Array<(price: string, side?: "buy" | "sell") => void> = [];
  const notices = h("div", { class: "notices", "aria-live": "polite", "data-testid": "notices" });

  const context: Context = {
    api,
    session,
    stream,
    market,
    portfolio,
    symbol: localStorage.getItem(SYMBOL_KEY) ?? "",
    selectSymbol(symbol: string) {
      if (!symbol || symbol === context.symbol) return;
      if (context.symbol) stream.unsubscribe([context.symbol], ["depth"]);
      context.symbol = symbol;
      localStorage.setItem(SYMBOL_KEY, symbol);
      stream.subscribe([symbol], ["quotes", "trades", "depth"]);
      title.textContent = symbol;
      for (const listener of symbolListeners) listener(symbol);
    },
    onSymbol: (listener) => symbolListeners.push(listener),
    notify(text, kind = "info") {
      const notice = h("div", { class: `notice ${kind}`, role: kind === "refusal" ? "alert" : "status" }, text);
      notices.prepend(notice);
      window.setTimeout(() => notice.remove(), kind === "refusal" ? 10_000 : 5_000);
      while (notices.children.length > 5) notices.lastElementChild?.remove();
    },
    fillTicket: (price, side) => fillListeners.forEach((listener) => listener(price, side)),
    onTicketFill: (listener) => fillListeners.push(listener),
  };

  // ------------------------------------------------------------------ header and states
  const title = h("span", { class: "symbol-title", "data-testid": "symbol-title" }, context.symbol);
  const connection = h("span", { class: "badge", "data-testid": "connection" }, "connecting");
  const sessionState = h("span", { class: "badge", "data-testid": "session-state" }, "");
  const banner = h("div", { class: "banner", role: "status", "data-testid": "banner", hidden: true });
  const nav = h(
    "nav",
    {},
    h("a", { href: "#/trade", "data-page": "trade" }, "Trade"),
    h("a", { href: "#/portfolio", "data-page": "portfolio" }, "Portfolio"),
    session.isAdmin ? h("a", { href: "#/admin", "data-page": "admin" }, "Admin") : null,
    h("a", { href: "/docs", target: "_blank", rel: "noopener" }, "API"),
  );
  const header = h(
    "header",
    {},
    h("span", { class: "brand" }, "TradingFloor"),
    title,
    nav,
    h("span", { class: "states" }, connection, sessionState),
    h(
      "span",
      { class: "user" },
      h("span", { "data-testid": "username" }, `${session.username || session.claims?.acct || ""} (${session.claims?.role ?? ""})`),
      button("Log out", () => void logOut(), { "data-testid": "logout" }),
      button("?", () => help.toggleAttribute("hidden"), { "aria-label": "Keyboard shortcuts", class: "link" }),
    ),
  );
  const help = h(
    "div",
    { class: "help card", hidden: true, "data-testid": "shortcuts" },
    h("h3", {}, "Keyboard shortcuts"),
    h("p", {}, "B buy · S sell · / symbol · Esc clear the ticket · Ctrl+Enter send the order · click a price in the book to use it"),
  );

  const showBanner = () => {
    const states: string[] = [];
    if (!navigator.onLine) states.push("This browser is offline.");
    if (stream.state === "reconnecting" || stream.state === "offline") states.push(`Disconnected from market data (${stream.state}): prices may be stale.`);
    if (portfolio.error) states.push(`The platform does not answer: ${portfolio.error}`);
    if (market.marketHalt) states.push(`The whole market is halted (${market.marketHalt.reason.replace(/_/g, " ")}).`);
    const halt = context.symbol ? market.haltOf(context.symbol) : null;
    if (halt && !market.marketHalt) states.push(`${context.symbol} is halted (${halt.reason.replace(/_/g, " ")}).`);
    banner.hidden = states.length === 0;
    banner.textContent = states.join(" ");
    banner.classList.toggle("danger", stream.state !== "live" || !!portfolio.error || !navigator.onLine);
  };
  stream.on("status", (state, detail) => {
    connection.textContent = state === "live" ? "live" : detail ? `${state}: ${detail}` : state;
    connection.className = `badge ${state === "live" ? "ok" : "down"}`;
    metrics.streamGaps = stream.gaps;
    showBanner();
  });
  stream.on("error", (message, symbol) => context.notify(`Market data: ${message}${symbol ? ` (${symbol})` : ""}`, "refusal"));
  stream.on("quote", () => markFirstQuote());
  market.on("clock", () => {
    const clock = market.clock;
    if (!clock) return;
    sessionState.textContent = clock.is_open ? "session open" : `session closed · opens ${new Date(clock.next_open).toLocaleString()}`;
    sessionState.className = `badge ${clock.is_open ? "ok" : "closed"}`;
  });
  market.on("symbols", showBanner);
  market.on("quote", showBanner);
  portfolio.on(showBanner);
  window.addEventListener("online", showBanner);
  window.addEventListener("offline", showBanner);
  session.onEnd(() => {
    stream.stop();
    portfolio.stop();
    location.hash = "";
    location.reload();
  });

  // ------------------------------------------------------------------ pages
  const pages: Record<string, HTMLElement> = {
    trade: h(
      "main",
      { class: "page trade", "data-testid": "trade-page" },
      watchlistView(context),
      chartView(context),
      tapeView(context),
      ladderView(context),
      ticketView(context),
      openOrdersView(context),
    ),
    portfolio: h(
      "main",
      { class: "page portfolio", "data-testid": "portfolio-page" },
      balancesView(context),
      positionsView(context),
      openOrdersView(context),
      historyView(context),
      activitiesView(context),
    ),
  };
  if (session.isAdmin) pages.admin = adminView(context);

  const route = () => {
    const name = location.hash.replace(/^#\//, "") || "trade";
    const page = pages[name] ? name : "trade";
    for (const [key, element] of Object.entries(pages)) element.hidden = key !== page;
    for (const link of nav.querySelectorAll("a[data-page]")) link.classList.toggle("active", link.getAttribute("data-page") === page);
    portfolio.withHistory(page === "portfolio");
  };
  window.addEventListener("hashchange", route);

  replace(app, header, help, banner, notices, ...Object.values(pages));
  route();
  markFirstRender();

  stream.start();
  if (context.symbol) {
    // The symbol shown last time: its quotes need not wait for the list of symbols.
    stream.subscribe([context.symbol], ["quotes", "trades", "depth"]);
  }
  portfolio.start();
  void market.loadClock().catch(() => undefined);
  window.setInterval(() => void market.loadClock().catch(() => undefined), 30_000);
  window.setInterval(showBanner, 1_000); // a timed halt ends by itself
  market
    .loadSymbols()
    .then(() => {
      performance.mark("tradingfloor:symbols");
      const first = market.symbols.has(context.symbol) ? context.symbol : ([...market.symbols.keys()][0] ?? "");
      context.symbol = "";
      context.selectSymbol(first);
    })
    .catch((error: unknown) => context.notify(`Symbols: ${error instanceof ApiError ? error.reason : String(error)}`, "refusal"));
}

metrics.navigationStartMs = 0;
if (session.active) terminal();
else signIn();
