"""The layers contract (pyproject.toml, checked by import-linter in the test command) names
every part of ``race_control``: a new package or module that is in no layer would escape it."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import race_control
import race_control.timing

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS = {"race_control.timing"}  # split into layers by their subpackages
NOT_LAYERED = {"race_control.__main__"}


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def _parts() -> set[str]:
    parts = {f"race_control.{m.name}" for m in pkgutil.iter_modules(race_control.__path__)}
    parts |= {f"race_control.timing.{m.name}" for m in pkgutil.iter_modules(race_control.timing.__path__)}
    return parts - CONTAINERS - NOT_LAYERED


def test_every_part_of_race_control_is_in_a_layer() -> None:
    missing = sorted(_parts() - _layered())
    assert not missing, f"add these to the layers contract in pyproject.toml: {missing}"


def test_the_layers_name_only_real_parts() -> None:
    assert not sorted(_layered() - _parts()), "the layers contract names parts that do not exist"
