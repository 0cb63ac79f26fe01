"""A roster file's bytes → a table: encoding, delimiter, header row, lines (pure, no I/O).

Registration exports come from everywhere: UTF-8 with or without a byte-order mark, Windows
Excel's cp1252 (Latin-1 where cp1252 has no character), commas, semicolons (European Excel),
tabs or pipes.  ``read_table`` decodes, sniffs the delimiter among those four, finds the header
row (the first of the first ``HEADER_SCAN`` non-empty rows naming a known column — an export
may start with a title line), and splits the rest into rows, each with its line number.  A row
that cannot be read (more fields than the header, a quote left open that swallowed the next
lines) is listed in ``errors`` with its line and the reason; the others are kept.

Excel workbooks (``.xlsx``, ``.xls``) are refused with a message saying to save them as CSV:
no spreadsheet library is a dependency.  Cell text is data: a name starting with ``=``, ``+``,
``-`` or ``@`` is kept as written, never evaluated.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from race_control.roster.errors import RosterInputError

DELIMITERS = ",;\t|"
HEADER_SCAN = 10
MAX_COLUMNS = 200
MAX_HEADER = 200
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, values)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    encoding: str = "utf-8"
    delimiter: str = ","
    header_line: int = 1

    def describe(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "delimiter": DELIMITER_NAMES[self.delimiter],
            "header_line": self.header_line,
            "rows": len(self.rows),
            "unreadable_rows": len(self.errors),
        }


def decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding's name: UTF-8 (a BOM dropped), else cp1252, else Latin-1."""
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterInputError(
            "this is an Excel workbook (.xlsx/.xls), not a CSV file: open it in Excel or LibreOffice "
            "and save it as CSV (File > Save As > CSV UTF-8), then import the CSV"
        )
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        return raw.decode("utf-16"), "utf-16"  # Excel's "Unicode text" export
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined
        return raw.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter of the first 50 non-empty lines: among , ; tab |, the one that splits the
    most lines into the same number of fields (a title line above the header does not count
    for more than one line; ``csv.Sniffer`` was misled by one)."""
    lines = [line for line in text[: 64 * 1024].splitlines() if line.strip()][:50]
    best, best_score = ",", 0
    for d in DELIMITERS:
        counts = Counter(line.count(d) for line in lines)
        counts.pop(0, None)
        score = max(counts.values(), default=0)
        if score > best_score:
            best, best_score = d, score
    return best


def read_table(raw: bytes, is_header: Callable[[list[str]], bool]) -> Table:
    """Decode and split ``raw``; ``is_header(cells)`` says whether a row names known columns."""
    text, encoding = decode(raw)
    if not text.strip():
        raise RosterInputError("the file is empty")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    seen: list[list[str]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if is_header(values):
                header, header_line = values, reader.line_num
                break
            seen.append(values)
            if len(seen) >= HEADER_SCAN:
                break
    except csv.Error as exc:
        raise RosterInputError(f"the file's first lines cannot be read as CSV: {exc}") from None
    if header is None:
        if not seen:
            raise RosterInputError("the file has no rows")
        # no known column name: the first row is the header, the mapping names the columns
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        header = next(v for v in reader if any(x.strip() for x in v))
        header_line = reader.line_num
    if len(header) > MAX_COLUMNS:
        raise RosterInputError(f"the header has {len(header)} columns (at most {MAX_COLUMNS})")
    headers = [h.strip()[:MAX_HEADER] for h in header]
    dupes = sorted({h for h in headers if h and headers.count(h) > 1})
    if dupes:
        raise RosterInputError(f"the header names column(s) {', '.join(map(repr, dupes[:5]))} twice")
    table = Table(headers, [], [], encoding, delimiter, header_line)
    width = len(headers)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            table.errors.append((reader.line_num, f"cannot be read: {exc}"))
            continue
        # the row's text joined: one C-level test each for a blank row and a line break
        # (a 50,000-row file: docs/providers.md#load)
        joined = "".join(values)
        if not joined.strip():
            continue
        if "\n" in joined or "\r" in joined:
            table.errors.append((start, "a quoted field runs over several lines (unclosed quote?)"))
            continue
        n = len(values)
        if n == width:
            table.rows.append((start, values))
            continue
        if n > width and "".join(values[width:]).strip():
            table.errors.append((start, f"{n} fields but the header has {width}"))
            continue
        table.rows.append((start, values[:width] + [""] * (width - n)))
    return table
