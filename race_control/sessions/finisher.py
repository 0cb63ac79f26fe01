"""The finisher message a screen receives: built from a crossing and the roster.

Privacy is applied here, once, for every field: a runner who opted out is shown as
"Bib N" with no city or message; an alias replaces the name everywhere.  Unknown
bibs are never dropped: they show as "Bib N" with ``known: false``.
"""

from __future__ import annotations

import math
from typing import Any

from race_control.roster.participants import ParticipantRow
from race_control.sessions.crossing import Crossing
from race_control.timing.protocols.chronotrack_time import format_elapsed


def format_time_of_day(clock: float) -> str:
    """`H:MM:SS` of the wall clock, truncated: at 6:00:05.9 it is not yet 6:00:06.
    (Elapsed times are rounded up instead, by ``format_elapsed``.)"""
    total = math.floor(clock % 86400 + 1e-9)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def finisher_payload(seq: int, crossing: Crossing, runner: ParticipantRow | None) -> dict[str, Any]:
    read = crossing.read
    time_text = (
        format_elapsed(crossing.elapsed) if crossing.elapsed is not None else format_time_of_day(read.clock)
    )
    out: dict[str, Any] = {
        "type": "finisher",
        "seq": seq,
        "bib": read.bib,
        "name": f"Bib {read.bib}",
        "first_name": "",
        "last_name": "",
        "city": "",
        "state": "",
        "country": "",
        "division": "",
        "team": "",
        "age": None,
        "gender": "",
        "message": "",
        "known": runner is not None,
        "time": time_text,
        "time_kind": "elapsed" if crossing.elapsed is not None else "time-of-day",
        "elapsed": crossing.elapsed,
        "chip_time": format_elapsed(crossing.chip_time) if crossing.chip_time is not None else None,
        "gun_time": format_elapsed(crossing.gun_time) if crossing.gun_time is not None else None,
        "location": read.location,
        "read_at": round(read.received_at * 1000),
    }
    apply_runner(out, runner)
    return out


def apply_runner(out: dict[str, Any], runner: ParticipantRow | None) -> None:
    """Fill a message's personal fields from the roster, honouring opt-out and alias."""
    out["known"] = runner is not None
    if runner is None or runner.hidden:
        return
    if runner.alias:
        out.update(name=runner.alias, first_name=runner.alias, last_name="")
    else:
        name = f"{runner.first_name} {runner.last_name}".strip()
        out.update(name=name, first_name=runner.first_name, last_name=runner.last_name)
    out.update(
        city=runner.city,
        state=runner.state,
        country=runner.country,
        division=runner.division,
        team=runner.team,
        age=runner.age,
        gender=runner.gender,
        message=runner.message,
    )
