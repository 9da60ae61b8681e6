"""Errors that are bugs, not business outcomes. Business failures are `RejectReason` values."""


class InvariantViolation(RuntimeError):
    """A broken invariant (crossed book, debits != credits, negative holdings).

    Never caught and logged: it stops the process.
    """
