"""Read one delimited legacy file row by row, with the line numbers and raw bytes of each row.

The encoding is checked per row, not per file: a PlanPro-style export is cp1252, and a row
that is really UTF-8 (``Ã¸`` instead of ``ø`` after decoding) or holds bytes cp1252 does not
define is refused with its line, so one badly edited row does not sink the whole file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass



@dataclass
class DelimitedRow:
    cells: list[str]
    first_line: int  # 1-based, as an editor shows it
    last_line: int
    raw: bytes
    problem: str | None = None  # why the row cannot be trusted (encoding, width)


@dataclass
class DelimitedFile:
    name: str
    header: list[str]
    header_raw: bytes
    rows: list[DelimitedRow]


def encoding_problem(chunk: bytes, encoding: str) -> str | None:
    if chunk.isascii():
        return None
    if encoding.lower().replace("-", "") in ("cp1252", "windows1252", "latin1", "iso88591"):
        try:
            as_utf8 = chunk.decode("utf-8")
            # Only text the export's own encoding could hold was saved as UTF-8 by mistake;
            # cp1252 bytes that merely happen to form UTF-8 ("Å«" = C5 AB = "ū") are not.
            as_utf8.encode(encoding)
            return f"the row is UTF-8 encoded; the export must be {encoding}"
        except (UnicodeDecodeError, UnicodeEncodeError):
            pass
    try:
        chunk.decode(encoding)
    except UnicodeDecodeError as error:
        return f"byte 0x{chunk[error.start]:02x} is not valid {encoding}"
    return None


def read_delimited(name: str, data: bytes, *, delimiter: str, quote: str, encoding: str) -> DelimitedFile:
    """Split a delimited file into rows; decoding problems are marked on the rows they touch."""
    physical = data.splitlines(keepends=True)
    text = data.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote, strict=False)
    header: list[str] = []
    header_raw = b""
    rows: list[DelimitedRow] = []
    previous_end = 0
    for cells in reader:
        first, last = previous_end + 1, reader.line_num
        previous_end = last
        raw = b"".join(physical[first - 1:last])
        if not header:
            header = [cell.strip().lstrip("\ufeff").lstrip("ï»¿") for cell in cells]
            header_raw = raw
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        row = DelimitedRow(cells, first, last, raw, encoding_problem(raw, encoding))
        if row.problem is None and len(cells) != len(header):
            row.problem = f"row has {len(cells)} fields, the header has {len(header)}"
        rows.append(row)
    return DelimitedFile(name, header, header_raw, rows)


def write_delimited(header: list[str], rows: list[list[str]], *, delimiter: str, quote: str) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quotechar=quote, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
