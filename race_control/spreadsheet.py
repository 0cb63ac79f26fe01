"""CSV cells a spreadsheet opens safely: the one rule every CSV we write follows.

Text that starts like a formula (``= + - @``, tab, CR, LF: OWASP's CSV injection list) gets a
leading ``'``, which spreadsheets show as text; numbers stay numbers (-3 is not a formula).
"""

from __future__ import annotations

# a spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...)
# or strips it and reads what follows (tab, CR): https://owasp.org/www-community/attacks/CSV_Injection
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> object:
    """``value`` fit for a CSV cell: a formula-like text with a leading ``'``, the rest unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
