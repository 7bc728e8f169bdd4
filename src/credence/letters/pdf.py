"""A small PDF writer (fpdf2) of headings and paragraphs on A4 or US Letter pages.

A Unicode font when the system has one (Debian's fonts-dejavu-core); otherwise the PDF's
built-in Helvetica, which covers Latin-1 only, and other characters are replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fpdf import FPDF

Paper = Literal["A4", "Letter"]
PAPERS: tuple[Paper, ...] = ("A4", "Letter")
_FONTS = Path("/usr/share/fonts/truetype/dejavu")


class Pdf:
    """Headings and paragraphs, one after another, on pages of one paper size."""

    def __init__(self, paper: Paper = "A4") -> None:
        self.pdf = FPDF(format=paper)
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_margins(20, 18, 20)
        self.pdf.add_page()
        regular, bold = _FONTS / "DejaVuSans.ttf", _FONTS / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("body", "B", str(bold))
            self.font, self.unicode = "body", True
        else:
            self.font, self.unicode = "Helvetica", False

    def _text(self, s: str) -> str:
        return s if self.unicode else s.encode("latin-1", "replace").decode("latin-1")

    def heading(self, s: str, size: int = 13) -> None:
        """A bold heading."""
        self.pdf.set_font(self.font, "B", size)
        self.pdf.multi_cell(0, size * 0.5, self._text(s), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1.5)

    def para(self, s: str, bold: bool = False) -> None:
        """A paragraph of body text."""
        self.pdf.set_font(self.font, "B" if bold else "", 10)
        self.pdf.multi_cell(0, 5, self._text(s), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1.5)

    def bytes(self) -> bytes:
        """The document as PDF bytes."""
        return bytes(self.pdf.output())
