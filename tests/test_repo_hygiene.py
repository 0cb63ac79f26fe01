"""The repo stands alone: no tracked file cites notes that live outside it.

Protocol and data facts the code relies on are written down in ``docs/`` (``docs/protocols/``,
``docs/data/``); a comment, docstring, test or doc that points at a sibling ``../shared``
checkout, or at one of the research notes kept there, points at something a reader of this
repo does not have.  This test lists every tracked file under the checked folders and fails
naming each file and line that still does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("race_control/", "tests/", "docs/", "bench/", "scripts/", "README.md")
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# a path into the shared checkout, or the name of a document kept only there
FORBIDDEN = re.compile(
    rb"\.\./shared\b|/work/shared\b"
    rb"|(?<![\w-])(?:timing-protocols|provider-apis|tooling-notes|market|sync-builder-providers"
    rb"|PRODUCT|ARCHITECTURE)\.md\b",
    re.IGNORECASE,
)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *CHECKED],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def offending_lines(names: list[str]) -> list[str]:
    found = []
    for name in names:
        if name == THIS_FILE:
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree but still in the index
            continue
        for no, line in enumerate(path.read_bytes().splitlines(), start=1):
            if FORBIDDEN.search(line):
                found.append(f"{name}:{no}: {line.decode('utf-8', 'replace').strip()[:160]}")
    return found


def test_the_pattern_catches_what_it_is_for() -> None:
    for text in (
        "see ../shared/reference/timing-protocols.md §1.3",
        "/work/shared/ARCHITECTURE.md rule 10",
        "(provider-apis.md)",
        "beyond `shared/reference/tooling-notes.md`",
        "market.md",
        "sync-builder-providers.md",
        "the PRODUCT.md target",
    ):
        assert FORBIDDEN.search(text.encode()), text
    for text in ("docs/protocols/ctp01.md#resume", "supermarket.md", "shared fixtures", "docs/benchmarks.md"):
        assert not FORBIDDEN.search(text.encode()), text


def test_no_tracked_file_cites_documents_outside_the_repo() -> None:
    names = tracked_files()
    assert "README.md" in names and any(n.startswith("race_control/") for n in names)
    found = offending_lines(names)
    assert not found, "cite docs/ instead of notes outside the repo:\n" + "\n".join(found)
