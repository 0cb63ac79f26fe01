"""One exception root per package: every exception class Race Control defines descends from its
package's root (and so from ``RaceControlError``), as docs/errors.md draws it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import race_control
from race_control.central.errors import CentralError
from race_control.display_server.errors import DisplayError
from race_control.errors import InputError, RaceControlError
from race_control.roster.errors import RosterError
from race_control.sessions.errors import SessionError
from race_control.store.database import StoreError
from race_control.templates.errors import TemplateError
from race_control.timing.protocols.ctp01_lines import check_observation
from race_control.timing.protocols.errors import TimingError, TimingInputError

ROOTS: dict[str, type[RaceControlError]] = {
    "race_control.central": CentralError,
    "race_control.display_server": DisplayError,
    "race_control.roster": RosterError,
    "race_control.sessions": SessionError,
    "race_control.store": StoreError,
    "race_control.templates": TemplateError,
    "race_control.timing": TimingError,
}
SKIP = ("race_control.ui", "race_control.__main__")  # Qt; the entry point runs on import


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for mod in pkgutil.walk_packages(race_control.__path__, "race_control."):
        if mod.name.startswith(SKIP) or ".migrations" in mod.name:
            continue
        module = importlib.import_module(mod.name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_exception_class_descends_from_its_package_root() -> None:
    classes = _exception_classes()
    names = {c.__name__ for c in classes}
    assert {"Ctp01Error", "RaceResultError", "TimeFormatError", "SimulationError", "StoreError"} <= names
    wrong = []
    for cls in classes:
        root = next((r for pkg, r in ROOTS.items() if cls.__module__.startswith(pkg + ".")), RaceControlError)
        if not issubclass(cls, root):
            wrong.append(f"{cls.__module__}.{cls.__qualname__} is not a {root.__name__}")
    assert wrong == []


def test_a_rejected_timing_value_is_typed_and_still_a_value_error() -> None:
    try:
        check_observation("finish", "not a tag!", "08:00:00.00")
    except ValueError as exc:  # what the simulator and file import catch
        assert isinstance(exc, TimingInputError) and isinstance(exc, InputError)
        assert not exc.retryable and "invalid tag" in str(exc)
    else:
        raise AssertionError("an invalid tag was accepted")
