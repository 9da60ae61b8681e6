"""A statement view drawn as a PDF with fpdf2 (pure Python, no system library).

US Letter, landscape (the trades table is wide), Helvetica: one of the PDF's standard fonts,
so nothing is embedded and the file stays small. The standard fonts cover Latin-1 only; any
other character is drawn as "?" (account ids and symbols are ASCII; a description could hold
anything). A cell too narrow for its text is cut with "...". The header of a table is drawn
again at the top of each page it runs onto.
"""

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import CoreFont

from tradingfloor.settlement.statement_view import StatementView, Table

FONT = "Helvetica"
TEXT_SIZE_PT = 8
LINE_HEIGHT_MM = 4.6
MARGIN_MM = 12.0
COLUMN_PADDING_MM = 2.0
WIDTH_SLACK_MM = 0.01
"""Floating-point room given to a text measured to fit its own column exactly."""
COLUMN_WIDTH_MAX_MM = 90.0
"""The widest a column is drawn before its text is cut (descriptions)."""
ELLIPSIS = "..."


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="L", unit="mm", format="letter")
        self.footer_text = footer_text
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(True, MARGIN_MM)

    def footer(self) -> None:
        self.set_y(-MARGIN_MM + 2)
        self.set_font(FONT, size=TEXT_SIZE_PT - 1)
        self.cell(0, LINE_HEIGHT_MM, f"{self.footer_text}  -  page {self.page_no()}", align="C")


def render_pdf(view: StatementView) -> bytes:
    """The statement as the bytes of a PDF file."""
    footer = _latin(f"{view.title}, {view.account}, {view.period}")
    pdf = _Document(footer)
    pdf.set_title(_latin(f"{view.title}: {view.account}, {view.period}"))
    pdf.set_author("TradingFloor")
    pdf.add_page()
    pdf.set_font(FONT, style="B", size=15)
    pdf.cell(0, 9, _latin(view.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=TEXT_SIZE_PT + 1)
    for label, value in (
        ("Account", f"{view.account} ({view.account_kind})"),
        ("Period", view.period),
        ("Covers", view.covers),
        ("Amounts", "US dollars"),
    ):
        pdf.cell(22, LINE_HEIGHT_MM + 0.6, label)
        pdf.cell(0, LINE_HEIGHT_MM + 0.6, _latin(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for table in view.tables:
        _table(pdf, table)
    return bytes(pdf.output())


def _table(pdf: _Document, table: Table) -> None:
    pdf.ln(3)
    if pdf.will_page_break(LINE_HEIGHT_MM * 4):
        pdf.add_page()
    pdf.set_font(FONT, style="B", size=TEXT_SIZE_PT + 2)
    pdf.cell(0, LINE_HEIGHT_MM + 2, _latin(table.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if table.rows:
        widths = _widths(pdf, table)
        _row(pdf, table.columns, widths, table.numeric, bold=True)
        for row in table.rows:
            if pdf.will_page_break(LINE_HEIGHT_MM):
                pdf.add_page()
                _row(pdf, table.columns, widths, table.numeric, bold=True)
            _row(pdf, row, widths, table.numeric, bold=False)
    if table.note:
        pdf.set_font(FONT, style="I", size=TEXT_SIZE_PT)
        pdf.cell(0, LINE_HEIGHT_MM, _latin(table.note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _widths(pdf: _Document, table: Table) -> list[float]:
    """Each column as wide as its widest text (capped), shrunk to the page if need be."""
    widths = []
    for index, title in enumerate(table.columns):
        pdf.set_font(FONT, style="B", size=TEXT_SIZE_PT)
        widest = _measure(pdf, _latin(title))
        pdf.set_font(FONT, size=TEXT_SIZE_PT)
        for row in table.rows:
            widest = max(widest, _measure(pdf, _latin(row[index])))
        widths.append(min(widest + COLUMN_PADDING_MM * 2, COLUMN_WIDTH_MAX_MM))
    room = pdf.w - pdf.l_margin - pdf.r_margin
    total = sum(widths)
    if total > room:
        widths = [width * room / total for width in widths]
    return widths


def _measure(pdf: _Document, text: str) -> float:
    """The width (mm) of Latin-1 `text` in the current standard font: its glyphs' widths (in
    1/1000 of the font size) summed. Ten times faster than `get_string_width`, which prepares
    text for every font and script; a standard font has no kerning to apply."""
    font = pdf.current_font
    if not isinstance(font, CoreFont):  # only standard fonts are ever set here
        raise TypeError(f"a standard font is needed to measure text, not {font!r}")
    widths: dict[str, int] = font.cw
    return sum(widths[char] for char in text) * pdf.font_size / 1000


def _row(
    pdf: _Document,
    cells: tuple[str, ...],
    widths: list[float],
    numeric: tuple[bool, ...],
    bold: bool,
) -> None:
    """One line of a table, each text placed at its column's edge. `text` draws a string
    where it is told, about ten times faster than `cell`, which lays text out in general."""
    pdf.set_font(FONT, style="B" if bold else "", size=TEXT_SIZE_PT)
    x, top = pdf.l_margin, pdf.y
    baseline = top + LINE_HEIGHT_MM * 0.72
    for text, width, right in zip(cells, widths, numeric, strict=True):
        room = width - COLUMN_PADDING_MM * 2
        shown = _fitted(pdf, _latin(text), room)
        left = x + COLUMN_PADDING_MM
        if right:
            left += room - _measure(pdf, shown)
        if shown:
            pdf.text(left, baseline, shown)
        x += width
    if bold:
        pdf.line(pdf.l_margin, top + LINE_HEIGHT_MM, x, top + LINE_HEIGHT_MM)
    pdf.set_xy(pdf.l_margin, top + LINE_HEIGHT_MM)


def _fitted(pdf: _Document, text: str, room: float) -> str:
    """`text`, cut with an ellipsis to fit `room` (mm) in the current font."""
    room += WIDTH_SLACK_MM
    if _measure(pdf, text) <= room:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if _measure(pdf, text[:middle] + ELLIPSIS) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS
