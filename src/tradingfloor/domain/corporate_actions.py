"""Corporate actions: the terms an issuer announces, as the engine applies them.

Dates are ISO trading days of the platform's calendar (`"2026-12-02"`); money is in price
units (1/10,000 dollar), like every price. What each does, applied by the engine at the
end of day (`CloseDay`) before the session it takes effect in, and at settlement
(`SettleDay`) for payments:

- `StockSplit`: from the `ex_date` on, every `old_shares` become `new_shares` (2-for-1:
  old 1, new 2; 1-for-10 reverse: old 10, new 1). Positions are multiplied and whole
  shares kept; a fraction left is paid in cash at `cash_in_lieu_price` per new share (the
  symbol's last price, else its reference price, adjusted by the ratio when it is None).
  The whole shares keep the whole cost basis; a fraction paid in lieu is a sale of that
  fraction (so the IRS treats it): it takes its pro-rata share of the basis, and the cash
  less that share is realized P&L (a holding left with no whole share keeps no basis).
  Open orders of a forward split (FINRA Rule 5330) have their quantity multiplied (rounded
  down to whole shares) and prices divided, rounded so the order never becomes more
  aggressive: buy limits and sell stops DOWN to the tick, sell limits and buy stops UP (the
  rule leaves sell limits and buy stops alone; here every price follows the split). A
  reverse split cancels them.
- `CashDividend`: holders of settled shares on the `record_date` are paid `amount_per_share`
  on the `pay_date`. The ex-date is the session on which a buyer no longer settles by the
  record date: the record date minus (N - 1) sessions under T+N (T+1: the record date
  itself). Entitlement is fixed at the close before the ex-date; open buy limits and sell
  stops (and a sell stop-limit's limit) are reduced by the dividend (rounded down to the
  tick) at the ex-date, sell limits and buy stops are not (FINRA Rule 5330).
- `SymbolChange`: from `effective_date` on, `symbol` trades as `new_symbol`: the book with
  its live orders (same ids, same priority), positions and cost basis follow it.
"""

import msgspec


class StockSplit(
    msgspec.Struct, frozen=True, tag=True, array_like=True, forbid_unknown_fields=True
):
    action_id: str
    symbol: str
    old_shares: int
    new_shares: int
    ex_date: str
    cash_in_lieu_price: int | None = None


class CashDividend(
    msgspec.Struct, frozen=True, tag=True, array_like=True, forbid_unknown_fields=True
):
    action_id: str
    symbol: str
    amount_per_share: int
    record_date: str
    pay_date: str


class SymbolChange(
    msgspec.Struct, frozen=True, tag=True, array_like=True, forbid_unknown_fields=True
):
    action_id: str
    symbol: str
    new_symbol: str
    effective_date: str


CorporateAction = StockSplit | CashDividend | SymbolChange
