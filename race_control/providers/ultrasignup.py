"""UltraSignup: no participant API — the RD's entrants export file, and public results JSON.
Wire and file facts: docs/providers.md#ultrasignup.

UltraSignup publishes no API.  What a timer has:

* the **entrants export** the race director downloads from UltraSignup's RD pages (CSV; an
  Excel workbook is saved as CSV first).  ``read_export`` reads it like every roster file
  (``roster.tabular``, ``roster.mapping`` with UltraSignup's header words, ``file_import``) into
  the same ``FetchResult`` a provider pull gives, so the re-sync rules (preview, local edits
  win, removals marked, suspected removals) apply to it unchanged.  The export is a whole
  snapshot: each import is a full pull of its did.
* the undocumented public **results** JSON ``GET {base}/results/{did}/1/json`` (``fetch_results``).

UltraSignup's unit is the ``did``: one distance of one year of an event (the number in the
event page's address, ``results_event.aspx?did=…``).  Our provider event id is a did.  There is
no account and no list of "my events" (``list_events`` is empty).  Requests are kept polite: one
per did, ``gap`` seconds apart (those who read these endpoints keep ≥ 2 s).
"""

from __future__ import annotations

import re
from typing import Any

from race_control.providers import file_import
from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import FetchResult, ProviderEvent, Result
from race_control.roster.mapping import detect, names_a_column
from race_control.roster.tabular import read_table

MAX_EXPORT = 50 * 1024 * 1024
# UltraSignup's export header words (lower case, letters and digits: roster.mapping.header_key)
# → mapping field; tried before the common words of roster/mapping.py
SYNONYMS: dict[str, str] = {
    **{
        w: "registration_id"
        for w in ("orderid", "orderno", "ordernumber", "registrationid", "entrantid", "participantid")
    },
    **{w: "bib" for w in ("bib", "bibnumber", "bibno", "bibnum")},
    **{w: "first_name" for w in ("firstname", "first", "fname")},
    **{w: "last_name" for w in ("lastname", "last", "lname")},
    **{w: "race_name" for w in ("distance", "event", "race")},  # one did per distance
    **{w: "team" for w in ("team", "teamname", "club")},
}
# results: 1 and 6 = finished, 2 = DNF, 3 = DNS (UltraSignup's codes)
FINISHED = (1, 6)
RESULT_STATUS = {1: "finished", 6: "finished", 2: "dnf", 3: "dns"}
_DID = re.compile(r"^[0-9]{1,12}$")
FILE_ONLY = (
    "UltraSignup has no participant API: import the race director's entrants export (CSV) for "
    "this did instead (the roster file import, its source the did)"
)


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
        raise ProviderInputError(FILE_ONLY, provider=self.id, field="provider_event_id")

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
def read_export(data: bytes, provider_event_id: str) -> FetchResult:
    """The entrants of an UltraSignup export file as one full pull of did ``provider_event_id``,
    read like every roster file (``roster.tabular``, ``roster.mapping`` with ``SYNONYMS``,
    ``providers.file_import``): entrants keyed by UltraSignup's order / registration number,
    raw rows kept, unusable rows quarantined with their line.

    Refused, naming why: an Excel workbook (save it as CSV), an export without an order /
    registration id column (its runners would have no identity across exports), one without
    a single entrant.  A file whose every row was refused is not a full pull (no evidence that
    anyone left).
    """
    event = did(provider_event_id)
    raw = bytes(data)
    if len(raw) > MAX_EXPORT:
        raise ProviderInputError(
            f"the UltraSignup export is larger than {MAX_EXPORT // 2**20} MiB",
            provider="ultrasignup",
            field="file",
        )
    if raw[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
        raise ProviderInputError(
            "this UltraSignup export is an Excel workbook: open it and save it as CSV, then import that",
            provider="ultrasignup",
            field="file",
        )
    table = read_table(raw, lambda cells: names_a_column(cells, SYNONYMS))
    mapping = detect(table.headers, SYNONYMS)
    if "registration_id" not in mapping:
        known = sorted(w for w, f in SYNONYMS.items() if f == "registration_id")
        raise ProviderInputError(
            f"the UltraSignup export has no order / registration id column (known: {', '.join(known)}; "
            f"found: {', '.join(h[:40] for h in table.headers[:20])})",
            provider="ultrasignup",
            field="file",
        )
    if not table.rows:
        raise ProviderInputError(
            "the UltraSignup export has a header but no entrants", provider="ultrasignup", field="file"
        )
    fetched, _ = file_import.entrants(table, mapping, "ultrasignup", event)
    fetched.full = bool(fetched.entrants)
    return fetched
