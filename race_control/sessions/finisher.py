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
from race_control.store.json_text import dumps_compact
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


_HEAD = '{"type":"finisher","seq":'  # how a finisher message's stored text begins (its seq next)


def stored_middle(base: dict[str, Any]) -> str | None:
    """The stored text (``dumps_compact``) of the finisher message ``base`` (seq 0, no places yet)
    between its seq and its end: what every session showing the same crossing stores alike, so
    that each session's text is made by ``stored_text`` instead of encoding its whole message
    (20 sessions stored 20 encodings of the same ~400 bytes a finish).  None if ``base`` does not
    begin as ``finisher_payload``'s messages do (then each is encoded whole)."""
    if "place" in base or "division_place" in base:
        return None
    text = dumps_compact(base)
    return text[len(_HEAD) + 1 : -1] if text.startswith(_HEAD + "0") else None


def stored_text(middle: str, seq: int, place: int | None, division_place: int | None) -> str:
    """``dumps_compact`` of ``{**base, "seq": seq, "place": place, "division_place": ...}`` (the
    message a session shows), from ``stored_middle(base)``."""
    p = "null" if place is None else str(int(place))
    d = "null" if division_place is None else str(int(division_place))
    return f'{_HEAD}{int(seq)}{middle},"place":{p},"division_place":{d}}}'


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
