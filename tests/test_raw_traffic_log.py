"""The raw timing log's file handler (``logging_setup.RawTrafficHandler``): records written as
they come, the file flushed once per turn of the event loop (at once off a loop), rolled over by
its size counted in bytes, never losing a line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_control.logging_setup import RawTrafficHandler


@pytest.fixture
def raw_logger() -> Iterator[tuple[logging.Logger, list[RawTrafficHandler]]]:
    logger = logging.getLogger("race_control.raw.test-traffic")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    made: list[RawTrafficHandler] = []
    yield logger, made
    for handler in made:
        logger.removeHandler(handler)
        handler.close()


def attach(logger: logging.Logger, made: list[RawTrafficHandler], path: Path, **kw: int) -> RawTrafficHandler:
    handler = RawTrafficHandler(path, encoding="utf-8", **kw)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    made.append(handler)
    return handler


def test_on_a_loop_a_turns_lines_reach_the_file_together_after_it(raw_logger, tmp_path: Path) -> None:
    logger, made = raw_logger
    attach(logger, made, tmp_path / "raw.log")

    async def packet() -> tuple[bytes, bytes]:
        for n in range(3):
            logger.debug("line %d", n)
        during = (tmp_path / "raw.log").read_bytes()  # still in the handler's buffer
        await asyncio.sleep(0)  # the loop turns: its callback flushes
        return during, (tmp_path / "raw.log").read_bytes()

    during, after = asyncio.run(packet())
    assert during == b""
    assert after == b"line 0\nline 1\nline 2\n"


def test_off_a_loop_each_record_is_in_the_file_at_once(raw_logger, tmp_path: Path) -> None:
    logger, made = raw_logger
    attach(logger, made, tmp_path / "raw.log")
    logger.debug("alone")
    assert (tmp_path / "raw.log").read_bytes() == b"alone\n"


def test_rolls_over_by_bytes_and_keeps_every_line(raw_logger, tmp_path: Path) -> None:
    logger, made = raw_logger
    path = tmp_path / "raw.log"
    path.write_bytes(b"x" * 150 + b"\n")  # a file from an earlier run counts: 151 bytes already
    attach(logger, made, path, maxBytes=200, backupCount=50)
    lines = [f"{n:03d} Zürich ünïcödé" for n in range(40)]  # 19 characters with the newline, 24 bytes
    for line in lines:
        logger.debug(line)
    files = [*sorted(tmp_path.glob("raw.log.*"), key=lambda p: -int(p.suffix[1:])), path]
    assert all(p.stat().st_size <= 200 for p in files), [p.stat().st_size for p in files]
    text = b"".join(p.read_bytes() for p in files).decode()
    assert text == "x" * 150 + "\n" + "".join(f"{line}\n" for line in lines)
    assert files[0].read_bytes().startswith(b"x" * 150 + b"\n")
    assert len(files[0].read_bytes()) == 151 + 2 * 24  # the earlier run's file took two lines more
    assert [p.stat().st_size for p in files[1:-1]] == [8 * 24] * (len(files) - 2)  # 8 lines a file
