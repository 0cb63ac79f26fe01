"""Hypothesis fuzzing of the parsers that take outside input (the protocol state machines
have their own fuzz tests in tests/timing): no exception escapes except the typed,
documented one, and what comes out is consistent."""

from __future__ import annotations

import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_control.errors import InputError
from race_control.roster.csv_import import parse_csv
from race_control.roster.participants import ParticipantRow, Rejected, parse_rows
from race_control.sessions.rules import CrossingRules
from race_control.templates.service import validate_template
from race_control.timing.protocols.controller_files import parse_markers, parse_reads
from race_control.timing.protocols.framing import LineBuffer, OverlongLine

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
controller_text = st.lists(
    st.one_of(
        st.text(alphabet="TO~0123456789.-ABCDEFP,\x00 ", max_size=80),
        st.builds(
            lambda a, b: f"TO~{a}~{b}~160~18~1620458668.64~12000C~8~-63~1~P~192",
            st.integers(-5, 10**7),
            st.text(max_size=8),
        ),
        st.builds(lambda a: f"I11A9D,{a},Gun,252,21050808005516,Button Press", st.text(max_size=6)),
    ),
    max_size=20,
).map("\n".join)


def framed(stream: bytes, limit: int) -> tuple[list[str | OverlongLine], bytes]:
    """What ``LineBuffer`` documents for a whole byte stream, written independently of it: NULs
    dropped, split at every ``\\r`` or ``\\n``, empty lines skipped, a line over ``limit`` bytes
    reported as ``OverlongLine`` (its length, and up to its first 80 bytes: see ``agrees``); the
    last, unterminated piece is still pending."""
    *complete, partial = re.split(b"[\r\n]", stream.replace(b"\x00", b""))
    out: list[str | OverlongLine] = []
    for raw in complete:
        if len(raw) > limit:
            out.append(OverlongLine(raw[:80].decode("latin-1"), len(raw)))
        elif raw:
            out.append(raw.decode("latin-1"))
    return out, partial


def agrees(got: list[str | OverlongLine], want: list[str | OverlongLine], limit: int) -> bool:
    """``got`` is ``want``, except that an over-long line cut across chunks keeps as its head the
    bytes held when it went over the limit (a prefix of its first 80, at least ``limit + 1``)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if isinstance(g, OverlongLine) and isinstance(w, OverlongLine):
            head_ok = w.head.startswith(g.head) and len(g.head) >= min(80, limit + 1, len(w.head))
            if g.length != w.length or not head_ok:
                return False
        elif g != w:
            return False
    return True


# bytes that make lines: terminators, NULs, latin-1 beyond ASCII, and plain text
line_bytes = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\x00", b"\xe9", b"~"]) | st.binary(max_size=40), max_size=12
).map(b"".join)


@FAST
@given(chunks=st.lists(line_bytes | st.binary(max_size=64), max_size=30), limit=st.integers(8, 200))
def test_line_buffer_never_loses_bytes_or_grows_unbounded(chunks: list[bytes], limit: int) -> None:
    buf = LineBuffer(max_line=limit)
    got: list[str | OverlongLine] = []
    for chunk in chunks:
        for item in buf.feed(chunk):
            if isinstance(item, OverlongLine):
                assert item.length > limit
            else:
                assert (
                    item
                    and len(item) <= limit
                    and "\n" not in item
                    and "\r" not in item
                    and "\x00" not in item
                )
            got.append(item)
        assert buf.pending <= limit
    want, partial = framed(b"".join(chunks), limit)
    # every line fed in comes out, intact and in order, however the stream was cut into chunks
    assert agrees(got, want, limit), (got, want)
    # and the unterminated rest is held, not lost: a terminator brings it out
    last, want_last = buf.feed(b"\n"), framed(partial + b"\n", limit)[0]
    assert agrees(last, want_last, limit), (last, want_last)
    assert buf.pending == 0


@FAST
@given(text=controller_text)
def test_controller_files_quarantine_bad_rows_and_never_raise(text: str) -> None:
    reads, errors = parse_reads(text, "x.csv")
    markers, merrors = parse_markers(text, "x.mrk")
    assert len(markers) + len(merrors) <= len(text.splitlines())
    lines = [ln for ln in text.splitlines() if ln.strip()]  # at most one record or error per line
    assert len(reads) + len(errors) <= len(lines)
    assert all(e.reason and e.line_no >= 1 for e in errors + merrors)
    assert all(r.tag == r.tag.strip() for r in reads)


@FAST
@given(text=st.text(alphabet=string.printable + 'é\u202e"', max_size=400))
def test_roster_csv_rows_are_imported_or_rejected_never_raised(text: str) -> None:
    try:
        rows = parse_csv("bib,first_name,last_name,age,hidden\n" + text)
    except InputError:
        return
    good, bad = parse_rows(rows)
    assert all(isinstance(g, ParticipantRow) for g in good) and all(isinstance(b, Rejected) for b in bad)
    assert len({g.bib for g in good}) == len(good)  # one runner per bib


@FAST
@given(body=json_values)
def test_rules_and_templates_from_any_json_are_valid_or_a_named_input_error(body: object) -> None:
    for parse in (CrossingRules.from_json, validate_template):
        try:
            result = parse(body)
        except InputError as exc:
            assert str(exc)
        else:
            assert result is not None
