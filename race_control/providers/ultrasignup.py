"""UltraSignup: no participant API — the RD's entrants export file, and public results JSON.
Wire and file facts: docs/providers.md#ultrasignup.

UltraSignup publishes no API.  What a timer has:

* the **entrants export** the race director downloads from UltraSignup's RD pages (CSV; an
  Excel workbook is saved as CSV first).  ``read_export`` turns it into the same
  ``FetchResult`` a provider pull gives, through the normalized schema, so the re-sync rules
  (preview, local edits win, removals marked, suspected removals) apply to it unchanged.  The
  export is a whole snapshot: each import is a full pull.
* the undocumented public **results** JSON ``GET {base}/results/{did}/1/json`` (``fetch_results``).

UltraSignup's unit is the ``did``: one distance of one year of an event (the number in the
event page's address, ``results_event.aspx?did=…``).  Our provider event id is a did.  There is
no account and no list of "my events" (``list_events`` is empty).  Requests are kept polite: one
per did, ``gap`` seconds apart (those who read these endpoints keep ≥ 2 s).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Result

MAX_EXPORT = 50 * 1024 * 1024
# the export's columns, by the header spellings known (compared without case, spaces or _ -)
HEADERS: dict[str, tuple[str, ...]] = {
    "registration_id": (
        "registrationid",
        "regid",
        "orderid",
        "orderno",
        "ordernumber",
        "participantid",
        "entrantid",
    ),
    "first_name": ("firstname", "first", "fname"),
    "last_name": ("lastname", "last", "lname"),
    "bib": ("bib", "bibnumber", "bibno", "bibnum"),
    "gender": ("gender", "sex"),
    "age": ("age", "raceage"),
    "birth_date": ("dob", "birthdate", "dateofbirth", "birthday"),
    "city": ("city",),
    "state": ("state", "stateprovince", "province"),
    "country": ("country",),
    "race_name": ("distance", "event", "race"),
    "team": ("team", "teamname", "club"),
    "status": ("status", "registrationstatus", "removed"),
}
SUPPLIES = frozenset(("bib", "first_name", "last_name", "age", "gender", "city", "state", "country", "team"))
STATUS = {
    "removed": "removed",
    "deleted": "removed",
    "withdrawn": "removed",
    "dropped": "removed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "refunded": "refunded",
    "transferred": "transferred",
    "deferred": "deferred",
}
# results: 1 and 6 = finished, 2 = DNF, 3 = DNS (UltraSignup's codes)
FINISHED = (1, 6)
RESULT_STATUS = {1: "finished", 6: "finished", 2: "dnf", 3: "dns"}
_DID = re.compile(r"^[0-9]{1,12}$")


def _key(header: str) -> str:
    return re.sub(r"[\s_\-./#]+", "", header.strip().lower())


class UltraSignup(ProviderAdapter):
    id = "ultrasignup"
    name = "UltraSignup"
    kind = "file"
    credential_fields = ()
    default_base_url = "https://ultrasignup.com/service/events.svc"
    gap = 2.0  # seconds between two requests (fetch_results of several dids)

    async def list_events(self) -> list[ProviderEvent]:
        return []  # no account API: a did is read off the event's UltraSignup address

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        did(provider_event_id)
        raise ProviderInputError(
            "UltraSignup has no participant API: import the race director's entrants export "
            "(CSV) for this did instead",
            provider=self.id,
            field="provider_event_id",
        )

    async def fetch_results(self, *dids: str) -> list[Result]:
        """The public results of each did (``gap`` seconds between two requests)."""
        out: list[Result] = []
        for k, d in enumerate(did(x) for x in dids):
            if k:
                await self._sleep(self.gap)
            path = f"results/{d}/1/json"
            data, _ = await self.get_json(path)
            rows = data.get("rows") if isinstance(data, dict) and isinstance(data.get("rows"), list) else data
            if not isinstance(rows, list):
                raise self.shape(path, "results", "a list", rows)
            self.page_done(len(rows), f"results of did {d}")
            out.extend(r for row in rows if (r := _result(row, d)) is not None)
        return out


def did(value: object) -> str:
    text = str(value).strip()
    if not _DID.match(text):
        raise ProviderInputError(
            f"UltraSignup did {text[:40]!r} must be digits (the did= of the event's UltraSignup page)",
            provider="ultrasignup",
            field="provider_event_id",
        )
    return text


def _result(row: Any, d: str) -> Result | None:
    """One results row; a row without a runner's name (UltraSignup puts one first) is none."""
    if not isinstance(row, dict) or not (n.text(row.get("firstname")) or n.text(row.get("lastname"))):
        return None
    status = row.get("status")
    code = int(status) if isinstance(status, int | str) and str(status).strip().isdigit() else None
    place = n.text(row.get("place"), 10)
    time = n.text(row.get("formattime"), 40) if code in FINISHED else ""
    return Result(
        provider="ultrasignup",
        provider_event_id=d,
        registration_id="",  # UltraSignup results carry no registration id
        bib=n.bib(row.get("bib")),
        first_name=n.text(row.get("firstname")),
        last_name=n.text(row.get("lastname")),
        gender=n.sex(row.get("gender")),
        age=n.age(row.get("age")),
        race_id=d,
        place=int(place) if place.isdigit() and code in FINISHED else None,
        clock_time=time,
        chip_time=time,
        raw={**row, "result_status": RESULT_STATUS.get(code or 0, "")},
    )


# --- the entrants export file ------------------------------------------------------------------
def decode(data: bytes) -> str:
    """The export's text: UTF-8 (with or without BOM), else Windows-1252 (Excel's CSV)."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
        raise ProviderInputError(
            "this UltraSignup export is an Excel workbook: open it and save it as CSV, then import that",
            provider="ultrasignup",
            field="file",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_export(data: bytes, provider_event_id: str) -> FetchResult:
    """The entrants of an UltraSignup export file as one full pull of did ``provider_event_id``.

    Columns are found by their header (``HEADERS``); the registration id (UltraSignup's order /
    registration number) and a name column are required — without them the file is refused,
    naming what is missing.  A row without an id is quarantined with its line number; a
    registration listed twice is collapsed (the last row wins).
    """
    event = did(provider_event_id)
    if not isinstance(data, bytes | bytearray) or not data.strip():
        raise ProviderInputError("the UltraSignup export is empty", provider="ultrasignup", field="file")
    if len(data) > MAX_EXPORT:
        raise ProviderInputError(
            f"the UltraSignup export is larger than {MAX_EXPORT // 2**20} MiB",
            provider="ultrasignup",
            field="file",
        )
    text = decode(bytes(data))
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, [])
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        k = _key(name)
        for field, spellings in HEADERS.items():
            if k in spellings and field not in columns:
                columns[field] = index
    missing = [f for f in ("registration_id",) if f not in columns]
    if "first_name" not in columns and "last_name" not in columns:
        missing.append("first_name/last_name")
    if missing:
        wanted = "; ".join(f"{f}: {', '.join(HEADERS.get(f, ('firstname', 'lastname')))}" for f in missing)
        raise ProviderInputError(
            f"the UltraSignup export has no {' or '.join(missing)} column (headers known: {wanted}; "
            f"found: {', '.join(h.strip()[:40] for h in header[:20])})",
            provider="ultrasignup",
            field="file",
        )
    entrants: list[Entrant] = []
    quarantined: list[dict[str, Any]] = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        raw = {header[i].strip(): v for i, v in enumerate(row) if i < len(header) and header[i].strip()}

        def cell(field: str, _row: list[str] = row) -> str:
            i = columns.get(field)
            return _row[i].strip() if i is not None and i < len(_row) else ""

        reg = n.text(cell("registration_id"), 64)
        who = f"{cell('first_name')} {cell('last_name')}".strip()
        if not reg:
            quarantined.append(
                {"row": f"line {line}" + (f" ({who})" if who else ""), "reason": "no registration id"}
            )
            continue
        status = cell("status").lower()
        if "status" in columns and _key(header[columns["status"]]) == "removed":  # a yes/no column
            status = "removed" if status in ("1", "true", "yes", "y", "x", "removed") else ""
        entrants.append(
            Entrant(
                provider="ultrasignup",
                provider_event_id=event,
                registration_id=reg,
                bib=n.bib(cell("bib")),
                first_name=n.text(cell("first_name")),
                last_name=n.text(cell("last_name")),
                gender=n.sex(cell("gender")),
                age=n.age(cell("age")),
                birth_date=n.iso_date(cell("birth_date")),
                city=n.text(cell("city")),
                state=n.text(cell("state"), 100),
                country=n.text(cell("country"), 100),
                race_id=n.text(cell("race_name")),
                race_name=n.text(cell("race_name")),
                team=n.text(cell("team")),
                status=STATUS.get(status, "active"),
                status_reason=status if status in STATUS else "",
                raw=raw,
            )
        )
    if not entrants and not quarantined:
        raise ProviderInputError(
            "the UltraSignup export has a header but no entrants", provider="ultrasignup", field="file"
        )
    collapsed, dupes = n.collapse(entrants)
    supplies = frozenset(f for f in SUPPLIES if f in columns)  # a column not exported is left alone
    # a file whose every row was refused is no evidence that anyone left: not a full pull
    return FetchResult(
        collapsed, quarantined, full=bool(collapsed), cursor={}, duplicates=dupes, supplies=supplies
    )
