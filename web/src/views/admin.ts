// The admin view: symbols and their halts (one symbol or the whole market), listing a symbol;
// accounts' kill switch; users and their API keys; settlement breaks and surveillance alerts.

import type { ApiError } from "../api";
import type { Context } from "../context";
import { button, h, replace, table } from "../dom";
import { dateTime, price } from "../format";
import type { SymbolInfo } from "../market";

interface UserRow {
  username: string;
  role: string;
  account: string | null;
  disabled: boolean;
  locked_for_s: number | null;
  totp_enabled: boolean;
  enrollment_pending: boolean;
}

interface KeyRow {
  key_id: string;
  label: string;
  scopes: string[];
  created_ts: number;
  revoked: boolean;
}

export function adminView(context: Context): HTMLElement {
  const { api, market } = context;
  const refusal = (error: unknown) => context.notify(`Refused: ${(error as ApiError).reason ?? String(error)}`, "refusal");
  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      context.notify(done, "ok");
    } catch (error) {
      refusal(error);
    }
  };

  // ---------------------------------------------------------------- symbols and halts
  const symbolsHolder = h("div", { class: "scroll" });
  const marketState = h("p", { "data-testid": "market-halt" });
  const haltAll = button("Halt the whole market", () => void act(() => api.post("/v1/admin/halts/*"), "Market halted").then(loadSymbols), { class: "danger" });
  const resumeAll = button("Resume the market", () => void act(() => api.delete("/v1/admin/halts/*"), "Market resumed").then(loadSymbols));
  const renderSymbols = () => {
    const halt = market.marketHalt;
    marketState.textContent = halt ? `The whole market is halted (${halt.reason.replace(/_/g, " ")})` : "The market is trading";
    const rows = [...market.symbols.values()].map((info: SymbolInfo) => {
      const symbolHalt = market.haltOf(info.symbol);
      return [
        info.symbol,
        info.tick_size ?? "standard",
        String(info.lot_size),
        price(market.lastPrice(info.symbol)),
        price(info.reference_price),
        symbolHalt ? h("span", { class: "badge halted" }, `halted: ${symbolHalt.reason.replace(/_/g, " ")}`) : h("span", { class: "badge ok" }, "trading"),
        symbolHalt
          ? button("Resume", () => void act(() => api.delete(`/v1/admin/halts/${info.symbol}`), `${info.symbol} resumed`).then(loadSymbols), { "data-testid": `resume-${info.symbol}` })
          : button("Halt", () => void act(() => api.post(`/v1/admin/halts/${info.symbol}`), `${info.symbol} halted`).then(loadSymbols), { class: "danger", "data-testid": `halt-${info.symbol}` }),
      ];
    });
    replace(symbolsHolder, table(["Symbol", "Tick", "Lot", "Last", "Reference", "State", ""], rows, { "data-testid": "admin-symbols" }));
  };
  const loadSymbols = async () => {
    try {
      await market.loadSymbols();
    } catch (error) {
      refusal(error);
    }
    renderSymbols();
  };
  market.on("symbols", renderSymbols);
  market.on("quote", renderSymbols);

  const newSymbol = h("input", { placeholder: "SYMBOL", maxlength: 16, "aria-label": "New symbol" });
  const newTick = h("input", { placeholder: "tick, e.g. 0.01", value: "0.01", "aria-label": "Tick size" });
  const newReference = h("input", { placeholder: "reference price", "aria-label": "Reference price" });
  const addSymbol = h("form", { class: "row" }, newSymbol, newTick, newReference, h("button", { type: "submit" }, "List symbol"));
  addSymbol.onsubmit = (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = { symbol: newSymbol.value.trim().toUpperCase(), tick_size: newTick.value.trim() || "0" };
    if (newReference.value.trim()) body.reference_price = newReference.value.trim();
    void act(() => api.post("/v1/admin/symbols", body), `${body.symbol} listed`).then(loadSymbols);
  };

  // ---------------------------------------------------------------- users, keys, kill switch
  const usersHolder = h("div", { class: "scroll" });
  const keysHolder = h("div", { class: "scroll", "data-testid": "admin-keys" });
  const showKeys = async (user: UserRow) => {
    try {
      const keys = await api.get<KeyRow[]>(`/v1/admin/users/${encodeURIComponent(user.username)}/api-keys`);
      const rows = keys.map((key) => {
        const id = key.key_id;
        return [
          id,
          key.label,
          key.scopes.join(", "),
          dateTime(key.created_ts),
          key.revoked ? "revoked" : button("Revoke", () => void act(() => api.delete(`/v1/admin/api-keys/${id}`), `Key ${id} revoked`).then(() => showKeys(user)), { class: "danger" }),
        ];
      });
      replace(keysHolder, h("h4", {}, `API keys of ${user.username}`), table(["Key", "Label", "Scopes", "Created", ""], rows, {}, "No API keys"));
    } catch (error) {
      refusal(error);
    }
  };
  const setStatus = (account: string, status: string) =>
    act(() => api.post(`/v1/admin/accounts/${encodeURIComponent(account)}/status`, { status }), `Account ${account} ${status}`);
  const loadUsers = async () => {
    try {
      const answer = await api.get<{ users: UserRow[] }>("/v1/admin/users?limit=500");
      const rows = answer.users.map((user) => [
        user.username,
        user.role,
        user.account ?? "",
        user.disabled ? "disabled" : user.locked_for_s ? `locked ${user.locked_for_s} s` : "active",
        user.totp_enabled ? "yes" : user.enrollment_pending ? "enrolment pending" : "no",
        h(
          "span",
          { class: "actions" },
          button("Keys", () => void showKeys(user)),
          user.account
            ? button("Kill switch", () => void setStatus(user.account!, "blocked"), { class: "danger", title: "Block the account: cancel its orders, end its sessions" })
            : null,
          user.account ? button("Restore", () => void setStatus(user.account!, "active")) : null,
        ),
      ]);
      replace(usersHolder, table(["User", "Role", "Account", "State", "TOTP", ""], rows, { "data-testid": "admin-users" }));
    } catch (error) {
      replace(usersHolder, h("p", { class: "refusal" }, (error as ApiError).reason ?? String(error)));
    }
  };

  const newUser = h("input", { placeholder: "username", maxlength: 64, "aria-label": "New username" });
  const newPassword = h("input", { placeholder: "password (8+)", type: "password", "aria-label": "New password" });
  const newRole = h("select", { "aria-label": "Role" }, ...["trader", "viewer", "admin"].map((role) => h("option", { value: role }, role)));
  const enrolment = h("p", { class: "secret" });
  const addUser = h("form", { class: "row" }, newUser, newPassword, newRole, h("button", { type: "submit" }, "Create user"));
  addUser.onsubmit = async (event) => {
    event.preventDefault();
    try {
      const made = await api.post<{ enrollment_token?: string }>("/v1/admin/users", { username: newUser.value.trim(), password: newPassword.value, role: newRole.value });
      enrolment.textContent = made.enrollment_token ? `Enrolment token for ${newUser.value} (shown once): ${made.enrollment_token}` : "";
      context.notify(`User ${newUser.value} created`, "ok");
      void loadUsers();
    } catch (error) {
      refusal(error);
    }
  };

  // ---------------------------------------------------------------- breaks and alerts
  const breaksHolder = h("div", { class: "scroll" });
  const alertsHolder = h("div", { class: "scroll" });
  const loadReviews = async () => {
    try {
      const breaks = await api.get<{ breaks: Array<Record<string, unknown>> }>("/v1/admin/breaks?limit=50");
      replace(
        breaksHolder,
        table(["Break", "Date", "Kind", "Account", "Symbol", "Status"], breaks.breaks.map((row) => [String(row.id), String(row.date), String(row.kind), String(row.account), String(row.symbol ?? ""), String(row.status)]), {}, "No open breaks"),
      );
    } catch (error) {
      replace(breaksHolder, h("p", { class: "muted" }, (error as ApiError).reason ?? String(error)));
    }
    try {
      const alerts = await api.get<{ alerts: Array<Record<string, unknown>> }>("/v1/admin/alerts?limit=50");
      replace(
        alertsHolder,
        table(["Alert", "Pattern", "State", "Symbol", "Accounts", "Summary"], alerts.alerts.map((row) => [String(row.id), String(row.pattern), String(row.state), String(row.symbol ?? ""), String((row.accounts as string[] | undefined)?.join(", ") ?? ""), String(row.summary ?? "")]), {}, "No alerts"),
      );
    } catch (error) {
      replace(alertsHolder, h("p", { class: "muted" }, (error as ApiError).reason ?? String(error)));
    }
  };

  const root = h(
    "main",
    { class: "page admin", "data-testid": "admin" },
    h("section", { class: "panel" }, h("h3", {}, "Symbols and halts"), marketState, h("div", { class: "row" }, haltAll, resumeAll), symbolsHolder, addSymbol),
    h("section", { class: "panel" }, h("h3", {}, "Users, keys and the kill switch"), usersHolder, addUser, enrolment, keysHolder),
    h("section", { class: "panel" }, h("h3", {}, "Settlement breaks"), breaksHolder),
    h("section", { class: "panel" }, h("h3", {}, "Surveillance alerts"), alertsHolder),
  );
  renderSymbols();
  void loadSymbols();
  void loadUsers();
  void loadReviews();
  return root;
}
