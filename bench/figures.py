"""One measured figure of a bench, as ``python -m bench`` tabulates it (and ``--json`` writes it).

Every bench module exposes ``bench(argv) -> list[Figure]``: it parses ``argv`` as its own command
line does, runs, prints its usual report and returns its headline figures.  ``target`` is the
figure's target in words (``"< 2 ms"``, ``"<= 1.5x relay"``, empty for a diagnostic figure);
``passed`` is None when there is no target or the run was a smoke run (tiny sizes: the figure
only proves the bench still works, its value means nothing).  ``ratio`` is set when the target
is a ratio against a reference measured in the same run (e.g. ours / the no-storage relay).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    bench: str
    what: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    ratio: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def below(
    bench: str, what: str, value: float, unit: str, limit: float, *, ratio: float | None = None
) -> Figure:
    """A figure whose target is ``value < limit`` (or ``ratio <= limit`` when ``ratio`` is given)."""
    if ratio is not None:
        return Figure(bench, what, value, unit, f"<= {limit:g}x", ratio <= limit, ratio)
    return Figure(bench, what, value, unit, f"< {limit:g} {unit}".rstrip(), value < limit)


def at_least(bench: str, what: str, value: float, unit: str, limit: float) -> Figure:
    return Figure(bench, what, value, unit, f">= {limit:g} {unit}".rstrip(), value >= limit)


def holds(bench: str, what: str, ok: bool, detail: float = 0.0, unit: str = "") -> Figure:
    """A yes/no property (every finisher delivered, resumable...): ``detail`` is a count to show."""
    return Figure(bench, what, detail, unit, "yes", ok)


def info(bench: str, what: str, value: float, unit: str) -> Figure:
    """A diagnostic figure: no target."""
    return Figure(bench, what, value, unit)
