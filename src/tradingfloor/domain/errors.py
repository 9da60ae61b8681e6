"""Errors that are bugs, not business outcomes. Business failures are `RejectReason` values."""


class InvariantViolation(RuntimeError):
    """A broken invariant (crossed book, debits != credits, negative holdings): stop the process."""
