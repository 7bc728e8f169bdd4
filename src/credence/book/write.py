"""Writing a policy book: one HTML page (Jinja2) and the same content as a PDF (fpdf2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from jinja2 import Environment, PackageLoader, select_autoescape

from credence.book.content import Book, book_of
from credence.policy.load import PolicySet

_ENV = Environment(
    loader=PackageLoader("credence.book", "templates"),
    autoescape=select_autoescape(["html"]),
)

# A Unicode font when the system has one (Debian's fonts-dejavu-core); otherwise the PDF's
# built-in Helvetica, which covers Latin-1 only, and other characters are replaced.
_FONTS = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class BookFiles:
    """Where a book was written."""

    html: Path
    pdf: Path


def render_html(book: Book) -> str:
    """The book as one HTML page."""
    return _ENV.get_template("book.html").render(book=book)


class _Pdf:
    """A small writer of headings, paragraphs and label/text rows on A4 pages."""

    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.add_page()
        regular, bold = _FONTS / "DejaVuSans.ttf", _FONTS / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("body", "B", str(bold))
            self.font, self.unicode = "body", True
        else:
            self.font, self.unicode = "Helvetica", False

    def text(self, s: str) -> str:
        return s if self.unicode else s.encode("latin-1", "replace").decode("latin-1")

    def heading(self, s: str, size: int = 14) -> None:
        self.pdf.set_font(self.font, "B", size)
        self.pdf.multi_cell(0, size * 0.5, self.text(s), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def para(self, s: str, bold: bool = False) -> None:
        self.pdf.set_font(self.font, "B" if bold else "", 9)
        self.pdf.multi_cell(0, 4.6, self.text(s), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def save(self, path: Path) -> None:
        self.pdf.output(str(path))


def render_pdf(book: Book, path: Path) -> None:
    """Write the book's content as a PDF at ``path``."""
    doc = _Pdf()
    doc.heading(f"Policy book: {book.title}", 16)
    doc.para(f"Policy {book.policy_id}; source {book.source}")
    if book.description:
        doc.para(book.description)
    for v in book.versions:
        doc.heading(f"Version {v.label}" + (f": {v.title}" if v.title else ""))
        doc.para(f"{v.period[0].upper()}{v.period[1:]}. Scale {v.scale}.")
        doc.para(
            "Grades: "
            + "; ".join(f"{g} {label} ({span})".replace("  ", " ") for g, label, span in v.grades)
        )
        for e in v.entries:
            doc.para(f"{e.section} {e.id}: {e.title}", bold=True)
            doc.para(f"Law: {e.citation or 'no legal basis cited'}")
            if e.legal_text:
                doc.para(f"Text: \u201c{e.legal_text}\u201d")
            doc.para(f"In plain words: {e.plain}")
    doc.heading("Analysis")
    for r in book.analysis.ranges:
        doc.para(f"Version {r.version}: every score lies in [{r.low}, {r.high}].")
    if not book.analysis.findings:
        doc.para("No findings.")
    for f in book.analysis.findings:
        doc.para(f"{f.code} at {f.location}: {f.message}", bold=True)
        if f.witness is not None:
            doc.para(f"Counterexample: {f.witness.describe()}")
    for reach in book.analysis.reach:
        shown = reach.witness.describe() if reach.witness else "no witness"
        doc.para(f"Version {reach.version}, {reach.what} {reach.id}: {reach.state}; {shown}")
    doc.heading("Worked examples")
    for i, x in enumerate(book.examples, start=1):
        doc.para(f"{i}. {x.name} ({'passes' if x.passed else 'FAILS'})", bold=True)
        known = f", as known at {x.known_at}" if x.known_at else ""
        doc.para(f"As of {x.as_of}{known}.")
        if x.records:
            doc.para(
                "Records: "
                + "; ".join(
                    f"{rid} {kind} on {day}" + (f" (amount {amount})" if amount else "")
                    for rid, kind, day, amount in x.records
                )
            )
        doc.para("Expected: " + "; ".join(f"{k}: {v}" for k, v in x.expected))
        doc.para("Computed: " + "; ".join(f"{k}: {v}" for k, v in x.computed))
        for failure in x.failures:
            doc.para(f"Failure: {failure}")
    doc.save(path)


def write_book(policy: PolicySet, folder: Path) -> BookFiles:
    """Write ``<policy id>.html`` and ``<policy id>.pdf`` into ``folder``."""
    book = book_of(policy)
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / f"{policy.id}.html"
    pdf = folder / f"{policy.id}.pdf"
    html.write_text(render_html(book), encoding="utf-8")
    render_pdf(book, pdf)
    return BookFiles(html, pdf)
