"""Hypothesis fuzzing of the parsers that take outside input (the protocol state machines
have their own fuzz tests in tests/timing): no exception escapes except the typed,
documented one, and what comes out is consistent."""

from __future__ import annotations

import json
import math
import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_control.display_server.strict_json import MAX_DEPTH, nesting_depth, parse_strict
from race_control.errors import InputError
from race_control.roster.csv_import import parse_csv
from race_control.roster.participants import ParticipantRow, Rejected, parse_rows
from race_control.sessions.rules import CrossingRules
from race_control.templates.service import builtin, builtin_ids, validate_template
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
# the same with what JSON cannot hold (NaN, ±Infinity), integers beyond 64 bits and nesting
wild_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63)
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
# ages as registration exports (and attackers) write them: unicode digits, superscripts,
# thousands of digits, NUL bytes, signs and spaces
ages = st.one_of(
    st.integers(-10, 200),
    st.integers(min_value=10**20),
    st.text(alphabet="0123456789²³¹٣٤\u06f5\u0966\u0967\x00 +-._", max_size=8),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.text(max_size=12),
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
@given(text=st.text(alphabet=string.printable + 'é\u202e"²٣\x00\x1b\u2028', max_size=400))
def test_roster_csv_rows_are_imported_or_rejected_never_raised(text: str) -> None:
    try:
        rows = parse_csv("bib,first_name,last_name,age,hidden\n" + text)
    except InputError:
        return
    good, bad = parse_rows(rows)
    assert all(isinstance(g, ParticipantRow) for g in good) and all(isinstance(b, Rejected) for b in bad)
    assert len({g.bib for g in good}) == len(good)  # one runner per bib


@FAST
@given(body=json_values | wild_values)
def test_rules_and_templates_from_any_json_are_valid_or_a_named_input_error(body: object) -> None:
    for parse in (CrossingRules.from_json, validate_template):
        try:
            result = parse(body)
        except InputError as exc:
            assert str(exc)
        else:
            assert result is not None
            # what is accepted is JSON a browser can read back: no NaN/Infinity anywhere
            json.dumps(result if isinstance(result, dict) else result.to_json(), allow_nan=False)


@FAST
@given(
    rows=st.lists(
        st.fixed_dictionaries({"bib": st.integers(1, 60).map(str), "first_name": st.just("A"), "age": ages}),
        max_size=12,
    )
)
def test_any_age_is_imported_in_range_or_rejects_only_its_row(rows: list[dict[str, object]]) -> None:
    good, bad = parse_rows(rows)
    assert len(good) + len(bad) == len(rows)
    assert all(g.age is None or (type(g.age) is int and 0 <= g.age <= 130) for g in good)
    assert all(b.error.startswith(f"row {b.index}") for b in bad)  # each names its row


def number_paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in number_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in number_paths(v, (*path, i))]
    return [path] if isinstance(value, int | float) and not isinstance(value, bool) else []


@FAST
@given(data=st.data(), number=st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, 2**60]))
def test_a_template_with_any_number_anywhere_is_saved_only_if_a_browser_can_read_it(
    data: st.DataObject, number: float
) -> None:
    template = builtin(data.draw(st.sampled_from(builtin_ids())))
    assert template is not None
    template = json.loads(json.dumps(template))
    path = data.draw(st.sampled_from(number_paths(template)))
    here = template
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = number
    try:
        saved = validate_template(template)
    except InputError as exc:
        assert str(exc)
    else:
        assert math.isfinite(number) and (isinstance(number, float) or abs(number) <= 2**53)
        json.dumps(saved, allow_nan=False)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | dict):
        return all(all_finite(v) for v in (value.values() if isinstance(value, dict) else value))
    return True


def nested(levels: list[bool], inner: object) -> object:
    for is_list in levels:
        inner = [inner] if is_list else {'k[\\"{': inner}
    return inner


@FAST
@given(value=json_values | wild_values, levels=st.lists(st.booleans(), max_size=40))
def test_strict_json_accepts_exactly_finite_json_nested_at_most_32_deep(
    value: object, levels: list[bool]
) -> None:
    value = nested(levels, value)
    text = json.dumps(value)  # NaN/Infinity written as JSON has none: "NaN", "Infinity"
    assert nesting_depth(text.encode()) == depth(value)
    finite = all_finite(value)
    try:
        got = parse_strict(text.encode())
    except InputError as exc:
        assert not finite or depth(value) > MAX_DEPTH, exc
    else:
        assert finite and depth(value) <= MAX_DEPTH and got == json.loads(text)


@FAST
@given(
    raw=st.binary(max_size=200)
    | st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"1", b","]), max_size=300).map(b"".join)
)
def test_strict_json_never_raises_anything_but_a_named_input_error(raw: bytes) -> None:
    try:
        got = parse_strict(raw)
    except InputError as exc:
        assert str(exc)
    else:
        assert depth(got) <= MAX_DEPTH
        json.dumps(got, allow_nan=False)
