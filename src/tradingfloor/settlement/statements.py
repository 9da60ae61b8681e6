"""Account statements, daily and monthly, as HTML and PDF: the one module the edges use.

A statement is made in three steps, each its own module:

1. the period: trading sessions of the exchange calendar (`statement_periods`: `daily_period`,
   `monthly_period`);
2. the data: what the read models say of the account over that period
   (`tradingfloor.store.statement_queries.load_statement`: opening and closing balances
   replayed from the account's activities, the trades with their fees, every other activity,
   the totals);
3. the document: the data as text (`statement_view`), then HTML (Jinja2, autoescaped: a
   description or an account name is text, never markup) or PDF (`statement_pdf`).

Steps 1 and 3 are pure (no database, no clock): the same data always gives the same document.
"""

from functools import cache
from pathlib import Path

import jinja2

from tradingfloor.settlement.statement_pdf import render_pdf
from tradingfloor.settlement.statement_periods import (
    Period,
    PeriodError,
    daily_period,
    monthly_period,
)
from tradingfloor.settlement.statement_view import StatementView, statement_view
from tradingfloor.store.statement_queries import StatementData, load_statement

__all__ = [
    "FORMATS",
    "Period",
    "PeriodError",
    "StatementData",
    "StatementView",
    "content_type",
    "daily_period",
    "load_statement",
    "monthly_period",
    "render",
    "render_html",
    "render_pdf",
    "statement_view",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
"""The formats a statement is given in, with their content types."""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(view: StatementView) -> str:
    """The statement as an HTML page (every value escaped)."""
    return _environment().get_template("statement.html").render(view=view)


def render(data: StatementData, period: Period, format: str) -> tuple[bytes, str]:
    """The statement in `format` ("html" or "pdf"): its bytes and its file name."""
    view = statement_view(data, period)
    if format == "html":
        return render_html(view).encode(), f"{view.file_stem}.html"
    if format == "pdf":
        return render_pdf(view), f"{view.file_stem}.pdf"
    raise ValueError(f"format must be one of {sorted(FORMATS)}, not {format!r}")


def content_type(format: str) -> str:
    return FORMATS[format]
