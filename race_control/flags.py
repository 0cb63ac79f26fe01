"""Feature flags: experimental features ship off by default, each behind a named flag.

Known flags are registered here (``FLAGS``: name → description, default off).  A running
instance resolves them once at start-up (``resolve``), from lowest to highest precedence:
the registry's defaults, ``DIR/settings.json`` (``"features": {"name": true}``, read by
``config.load_settings`` into ``Settings.features``; the desktop Settings page writes it),
and the environment ``RACE_CONTROL_FEATURES=name1,name2,-name3`` (``-`` turns one off).
An unknown name anywhere is an error at start-up that names it and the known flags: a typo
must not silently leave a feature off (or on).

Code asks ``services.features.enabled("name")``; asking for a flag that is not registered is
a bug (``KeyError``).  ``GET /api/health`` lists them all.  Pure data: no I/O except reading the
environment in ``resolve``.

A flag whose feature is no longer experimental is *retired* (``RETIRED``: name → what happens
now): still accepted in settings.json and the environment, so an old settings file does not
stop start-up, but ignored (``retired_in`` names the ones given, for a log line).  Right now no
feature is experimental: ``central_sync`` retired when central sync became what a laptop does
whenever it has a central URL (docs/sync.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from race_control.errors import InputError

ENV_FEATURES = "RACE_CONTROL_FEATURES"
log = logging.getLogger("race_control.flags")


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    description: str
    default: bool = False


FLAGS: dict[str, Flag] = {}  # no experimental feature right now
RETIRED: dict[str, str] = {
    "central_sync": "central sync runs whenever a central database URL is configured (docs/sync.md)",
}


class UnknownFeature(InputError):
    """A settings file or the environment names a feature flag this version does not know."""


def _check(names: Iterable[str], where: str) -> None:
    unknown = [n for n in names if n not in FLAGS and n not in RETIRED]
    if unknown:
        known = ", ".join(sorted(FLAGS)) or "none"
        raise UnknownFeature(f"unknown feature flag {unknown[0]!r} in {where}; known flags: {known}")


class Features:
    """The resolved on/off value of every known flag (immutable once built)."""

    def __init__(self, values: Mapping[str, bool] | None = None) -> None:
        values = {k: v for k, v in (values or {}).items() if k not in RETIRED}
        _check(values, "the feature flags")
        self._on = {name: bool(values.get(name, flag.default)) for name, flag in FLAGS.items()}

    def enabled(self, name: str) -> bool:
        if name not in self._on:
            raise KeyError(f"feature flag {name!r} is not registered in race_control.flags.FLAGS")
        return self._on[name]

    def to_json(self) -> dict[str, bool]:
        return dict(self._on)

    def __repr__(self) -> str:
        return f"Features({self._on!r})"


def retired_in(names: Iterable[str]) -> dict[str, str]:
    """The retired flags among ``names``, each with what happens now (for a log line)."""
    return {n: RETIRED[n] for n in names if n in RETIRED}


def parse_env(text: str) -> dict[str, bool]:
    """``"a,b,-c"`` → ``{"a": True, "b": True, "c": False}`` (names checked by the caller)."""
    out: dict[str, bool] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        on = not item.startswith("-")
        name = item.lstrip("+-").strip()
        if not name:
            raise UnknownFeature(f"{ENV_FEATURES} has an empty flag name in {text[:200]!r}")
        out[name] = on
    return out


def resolve(from_file: Mapping[str, bool], env: Mapping[str, str] | None = None) -> Features:
    """Defaults < ``from_file`` (``Settings.features``) < ``RACE_CONTROL_FEATURES`` in ``env``
    (``os.environ`` unless given).  ``UnknownFeature`` names the first unknown flag."""
    _check(from_file, "settings.json 'features'")
    env = os.environ if env is None else env
    from_env = parse_env(env.get(ENV_FEATURES, ""))
    _check(from_env, ENV_FEATURES)
    for name, now in retired_in({**from_file, **from_env}).items():
        log.info("feature flag %r is retired and ignored: %s", name, now)
    return Features({**from_file, **from_env})
