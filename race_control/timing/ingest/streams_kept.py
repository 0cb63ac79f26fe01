"""The timing streams' derived state, kept by a clean stop for the next start-up (issue #13).

Start-up derives each stream's seq trackers, tag-read count and latest tag arrival from every
stored read (``streams._load_streams``): a pass over 250,000 rows of a long race, ~0.5 s of a
restart.  A clean stop derives them once more from the same rows (so what is kept is exactly
what a start-up would derive, whatever happened in memory meanwhile) and keeps them with the
clean-close record (``store.clean_close``); the next start-up uses them only when that record
says the file is the very one closed, else it derives them again as after a crash.

``encode``/``decode``: one record, ``MAGIC``, the header's length, the header (JSON: per stream
its counts and per location the tracker's run length and how many seqs lie outside the run),
a BLAKE2b digest of header and payload, then the payload (the trackers' keys and seqs as
64-bit integers).  ``decode`` raises ``KeptUnusable`` naming what is wrong (another format,
truncated, a digest that does not match, a header of the wrong shape, parts that are not a
tracker): the caller logs it and derives the state from the reads.
"""

from __future__ import annotations

import json
import sys
from array import array
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from race_control.timing.ingest.stored_read import SeqTracker
from race_control.timing.protocols.errors import TimingError

MAGIC = b"race-control streams kept 1\n"
_DIGEST = 16


class KeptUnusable(TimingError):
    """A kept record that cannot be trusted (the reason is the message; never shown to a user:
    start-up logs it and derives the state from the reads)."""


@dataclass
class Derived:
    """What start-up derives for one stream from its stored reads."""

    reads: int = 0  # tag reads stored
    last_read_at: float | None = None  # the latest arrival of a stored tag read
    trackers: dict[str, SeqTracker] = field(default_factory=dict)  # location -> stored seqs


def encode(derived: dict[str, Derived]) -> bytes:
    streams: dict[str, Any] = {}
    chunks: list[bytes] = []
    for stream_id, d in derived.items():
        locations = []
        for location, tracker in d.trackers.items():
            low, run, above = tracker.parts()
            locations.append([location, low, len(above)])
            chunks += (run.tobytes(), array("q", above).tobytes(), array("q", above.values()).tobytes())
        streams[stream_id] = {"reads": d.reads, "last_read_at": d.last_read_at, "locations": locations}
    header = json.dumps({"byteorder": sys.byteorder, "streams": streams}).encode()
    payload = b"".join(chunks)
    digest = blake2b(header + payload, digest_size=_DIGEST).digest()
    return MAGIC + len(header).to_bytes(8, "little") + header + digest + payload


def decode(blob: bytes) -> dict[str, Derived]:
    if not blob.startswith(MAGIC):
        raise KeptUnusable("not a record of this format")
    at = len(MAGIC)
    size = int.from_bytes(blob[at : at + 8], "little")
    header, digest = blob[at + 8 : at + 8 + size], blob[at + 8 + size : at + 8 + size + _DIGEST]
    payload = memoryview(blob)[at + 8 + size + _DIGEST :]
    if len(header) != size or len(digest) != _DIGEST:
        raise KeptUnusable("truncated")
    check = blake2b(header, digest_size=_DIGEST)
    check.update(payload)
    if check.digest() != digest:
        raise KeptUnusable("its digest does not match its contents")
    try:
        top = json.loads(header)
        if top["byteorder"] != sys.byteorder:
            raise KeptUnusable(f"written on a {top['byteorder']}-endian machine")
        out: dict[str, Derived] = {}
        pos = 0
        for stream_id, s in top["streams"].items():
            last = s["last_read_at"]
            if type(s["reads"]) is not int or not (last is None or type(last) in (int, float)):
                raise KeptUnusable(f"stream {stream_id[:40]!r}: counts of the wrong type")
            d = out[stream_id] = Derived(s["reads"], last)
            for location, low, outside in s["locations"]:
                if type(location) is not str or type(low) is not int or type(outside) is not int:
                    raise KeptUnusable(f"stream {stream_id[:40]!r}: a tracker of the wrong shape")
                run, seqs, keys = array("q"), array("q"), array("q")
                for part, n in ((run, low), (seqs, outside), (keys, outside)):
                    if n < 0 or pos + 8 * n > len(payload):
                        raise KeptUnusable(f"stream {stream_id[:40]!r}: more tracker than payload")
                    part.frombytes(payload[pos : pos + 8 * n])
                    pos += 8 * n
                d.trackers[location] = SeqTracker.restored(low, run, dict(zip(seqs, keys, strict=True)))
    except KeptUnusable:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise KeptUnusable(f"of the wrong shape ({type(exc).__name__}: {exc})") from None
    if pos != len(payload):
        raise KeptUnusable("payload left over")
    return out
