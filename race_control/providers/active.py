"""ACTIVE Network (ACTIVE.com / ACTIVEWorks Endurance): rosters come as an export file.

ACTIVE has no public participant API: its Activity Search API is discovery only (public event
listings, no participants), and the ACTIVEWorks API token that partner timing software uses is
not documented for third parties.  So ACTIVE is a provider of kind ``file``: the organizer (or
the timer, with access to the event) exports the participants from ACTIVEWorks Endurance as a
CSV (an Excel export is saved as CSV first), and ``POST /api/events/{id}/roster/import`` with
``"provider": "active"`` imports it through the same normalizer (``providers/file_import.py``)
and the same safe re-sync as every provider (docs/providers.md#active).

The export's columns depend on the report the organizer builds, so ``SYNONYMS`` only proposes a
mapping from the column names ACTIVEWorks reports commonly use; the preview shows it and the
timer corrects it once (saved for the source ``active``).  ACTIVEWorks' registration
*category* is the distance (each category is a different race), so "Category" maps to the race
here, not to an age-group division as in other files.
"""

from __future__ import annotations

from typing import Any, ClassVar

from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import FetchResult, ProviderEvent

# ACTIVE-specific header words (lower case, letters and digits only) → mapping field; they are
# tried before the common ones of roster/mapping.py
SYNONYMS: dict[str, str] = {
    **{
        w: "registration_id"
        for w in (
            "registrationid",
            "registrantid",
            "attendeeid",
            "participantid",
            "confirmationnumber",
            "confirmationcode",
            "confirmationid",
        )
    },
    **{w: "bib" for w in ("bibnumber", "bib", "bibno", "bibassignment")},
    **{w: "first_name" for w in ("firstname", "participantfirstname", "attendeefirstname")},
    **{w: "last_name" for w in ("lastname", "participantlastname", "attendeelastname")},
    **{w: "gender" for w in ("gender", "participantgender", "sex")},
    **{w: "age" for w in ("age", "ageonraceday", "ageoneventday", "raceage")},
    **{w: "birth_date" for w in ("dateofbirth", "birthdate", "dob", "participantdateofbirth")},
    **{w: "state" for w in ("stateprovince", "state", "province")},
    **{w: "race_name" for w in ("category", "categoryname", "registrationcategory", "event", "race")},
    **{w: "division" for w in ("division", "agegroup", "agedivision")},
    **{w: "team" for w in ("teamname", "team", "club")},
    **{w: "status" for w in ("registrationstatus", "status", "participantstatus")},
}
FILE_ONLY = (
    "ACTIVE has no public participant API: export the participants from ACTIVEWorks Endurance "
    "as CSV and import the file (POST /api/events/{event_id}/roster/import with provider 'active', "
    "or the desktop's roster import)"
)


class Active(ProviderAdapter):
    """ACTIVE in the provider list (kind ``file``): no account syncs it; its roster is a file."""

    id: ClassVar[str] = "active"
    name: ClassVar[str] = "ACTIVE (ACTIVEWorks export file)"
    kind: ClassVar[str] = "file"
    default_base_url: ClassVar[str] = "https://activeworks.active.com"  # where the export is made

    async def list_events(self) -> list[ProviderEvent]:
        raise ProviderInputError(FILE_ONLY, provider=self.id)

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        raise ProviderInputError(FILE_ONLY, provider=self.id)
