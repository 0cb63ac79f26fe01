"""Finishes shown as "Bib N" are kept compact until the roster names them (``sessions.waiting``).

A session keeps each such finish so that a later roster corrects it on screen.  It keeps the
session's own seq and places, and the rest of the message as values made once per crossing and
shared by every session deciding it; the correction is made from that exactly as it was made
from the whole message.
"""

from __future__ import annotations

import asyncio

from race_control.roster.participants import ParticipantRow
from race_control.sessions.engine_sharing import share
from race_control.sessions.waiting import payload_of, waiting_from
from tests.sessions.test_engine_sharing import built, decide_live
from tests.sessions.test_snapshot import RUNNERS, race


def test_a_finish_kept_gives_back_the_very_message() -> None:
    message = {"type": "finisher", "seq": 7, "bib": "41", "name": "Bib 41", "known": False, "place": None}
    kept = waiting_from(message)
    assert payload_of(kept) == message  # a None place stays, an absent division place stays absent
    assert "division_place" not in payload_of(kept)
    assert payload_of(waiting_from({**message, "division_place": 2}))["division_place"] == 2


def test_sessions_deciding_a_nobodys_bib_share_its_message_and_correct_it_with_their_own_seqs() -> None:
    reads = race()
    cut = 120
    a, b = built(reads[:cut]), built(reads[:cut], "sess-2")
    asyncio.run(share(b, [a, b]))
    out = decide_live([a, b], reads[cut:])
    finishes = {
        sid: [e["payload"] for e in out.events if e["session_id"] == sid and not e["payload"]["known"]]
        for sid in ("sess-1", "sess-2")
    }
    assert {p["bib"] for p in finishes["sess-1"]} == {"777", "41", "42", "43", "44"}  # 777: one finish
    for bib in ("777", "41", "42", "43", "44"):
        # what each keeps is what its screens were sent, with its own seq and place...
        assert [payload_of(w) for w in a.unknown[bib]] == [p for p in finishes["sess-1"] if p["bib"] == bib]
        assert [payload_of(w) for w in b.unknown[bib]] == [p for p in finishes["sess-2"] if p["bib"] == bib]
        # ...and one copy of the rest between them (a dict per finish per session, before)
        assert all(x.values is y.values for x, y in zip(a.unknown[bib], b.unknown[bib], strict=True))
    # the roster learns bib 42: each session corrects its own finish, named, everything else kept
    RUNNERS["42"] = ParticipantRow(bib="42", first_name="Kim", last_name="Ode", city="Nampa")
    try:
        for s, sid in ((a, "sess-1"), (b, "sess-2")):
            (row,) = s.corrections_for(["42"], 500)
            (shown,) = [p for p in finishes[sid] if p["bib"] == "42"]
            named = {**shown, "name": "Kim Ode", "first_name": "Kim", "last_name": "Ode", "city": "Nampa"}
            assert row["payload"] == {
                **named,
                "known": True,
                "type": "correction",
                "seq": 500,
                "corrects_seq": shown["seq"],
            }
    finally:
        del RUNNERS["42"]
