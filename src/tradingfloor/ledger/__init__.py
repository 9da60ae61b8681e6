"""Double-entry accounts: cash (settled and unsettled), holds, positions, cost basis, P&L."""

from tradingfloor.ledger.accounts import Account, Position
from tradingfloor.ledger.ledger import Hold, Ledger

__all__ = ["Account", "Hold", "Ledger", "Position"]
