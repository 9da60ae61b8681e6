"""Settlement and clearing: end of day on the exchange calendar, T+N netting with a
clearinghouse, reconciliation into a review queue of breaks, and the clearinghouse simulator
the platform clears with (a role of its own)."""
