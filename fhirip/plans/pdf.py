"""The printable plan as PDF, made from the same HTML the browser gets (xhtml2pdf, pure Python)."""

from __future__ import annotations

import io

from xhtml2pdf import pisa


class PdfFailed(RuntimeError):
    pass


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML document; raises PdfFailed if the converter reports errors."""
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if status.err:
        raise PdfFailed(f"The plan could not be converted to PDF ({status.err} errors)")
    return out.getvalue()
