"""Template images through the central database (docs/sync.md#template-images).

A template shows its images as ``/display/images/<sha256>.<ext>``; the bytes are in the local
``template_images`` (store migration 0013), stored once by content hash and never deleted.
They travel like an append table, one way per direction:

* **push** (inside the push batch's one central transaction): the local rows above the cursor
  ``sync_cursors('template_images')`` in rowid order (one writer thread commits in rowid order
  and images are never deleted, so "above the cursor" is exactly "not sent yet"), at most
  ``PUSH_ROWS`` rows and ``PUSH_BYTES`` bytes per batch (at least one row).  The central
  database is asked which hashes it holds already and only the others are sent (``INSERT …
  ON CONFLICT DO NOTHING``): an image pulled from another laptop, or made again from the same
  file, is never uploaded twice.  An image over ``MAX_IMAGE_BYTES`` (the central limit) is
  left out with a warning instead of failing every batch after it.
* **pull** (in the pull's read-only snapshot, ``read_central``): other devices' rows by
  ``(tx, id)`` keyset pages of at most ``PULL_ROWS`` rows and ``PULL_BYTES`` bytes, the same
  cursor rule as the shared tables (``pull.Cursor``); each row's bytes are checked again by
  ``templates.images.check_stored`` (``checked``, on an executor: Pillow) before they are
  stored, in the same local transaction as the page's templates and the cursors.  A row that
  fails is refused with a warning naming it and why; nothing of it is stored, the rest of the
  page goes on.

Blocking functions: local ones take a SQLAlchemy ``Connection`` (``Store.run``), central ones a
psycopg2 cursor (the sync thread).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2.extras import execute_values
from sqlalchemy import Connection, text

from race_control.central.schema import IMAGE_TABLE
from race_control.templates.errors import TemplateInputError
from race_control.templates.history import put_images
from race_control.templates.images import MAX_IMAGE_BYTES, StoredImage, check_stored

log = logging.getLogger("race_control.sync")

LOCAL = "template_images"  # the local table (and its sync_cursors row)
PUSH_ROWS = 50
PUSH_BYTES = 32_000_000
PULL_ROWS = 50
PULL_BYTES = 32_000_000


@dataclass(frozen=True, slots=True)
class ImageRows:
    """Local images above the push cursor: ``(sha256, ext, width, height, data)`` each."""

    cursor: int  # the cursor when read
    last_rowid: int  # the highest rowid read
    rows: list[tuple[str, str, int, int, bytes]]


@dataclass(frozen=True, slots=True)
class Refused:
    sha256: str
    origin: str
    reason: str


# ---------------------------------------------------------------------------- local side


def _cursor(conn: Connection) -> int:
    found = conn.execute(text("SELECT last_rowid FROM sync_cursors WHERE tbl = :t"), {"t": LOCAL}).scalar()
    return int(found) if found is not None else 0


def read_local(
    conn: Connection,
    after: ImageRows | None = None,
    *,
    max_rows: int = PUSH_ROWS,
    max_bytes: int = PUSH_BYTES,
) -> ImageRows | None:
    """The next images to send (None: all are central), above the cursor or above ``after``
    (a batch on its way: images are never deleted, so its rows are simply skipped)."""
    cursor = _cursor(conn)
    start = max(cursor, after.last_rowid) if after is not None else cursor
    sizes = conn.execute(
        text(f"SELECT rowid, length(data) FROM {LOCAL} WHERE rowid > :s ORDER BY rowid LIMIT :n"),
        {"s": start, "n": max_rows},
    ).all()
    if not sizes:
        return None
    top, total = int(sizes[0][0]), 0
    for rowid, size in sizes:
        if total and total + int(size) > max_bytes:
            break
        top, total = int(rowid), total + int(size)
    rows = conn.execute(
        text(
            f"SELECT sha256, ext, width, height, data FROM {LOCAL} WHERE rowid > :s AND rowid <= :t ORDER BY rowid"
        ),
        {"s": start, "t": top},
    ).all()
    return ImageRows(cursor, top, [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), bytes(r[4])) for r in rows])


def mark_local(conn: Connection, images: ImageRows) -> None:
    """The central database committed ``images``: move the cursor (never back)."""
    conn.execute(
        text(
            "INSERT INTO sync_cursors (tbl, last_rowid, resets) VALUES (:t, :last, 0) "
            "ON CONFLICT (tbl) DO UPDATE SET last_rowid = max(last_rowid, excluded.last_rowid)"
        ),
        {"t": LOCAL, "last": images.last_rowid},
    )


def backlog(conn: Connection) -> tuple[int, float | None]:
    """Images not central yet and when the oldest was stored."""
    cursor = _cursor(conn)
    count, first = conn.execute(
        text(f"SELECT count(*), min(created_at) FROM {LOCAL} WHERE rowid > :c"), {"c": cursor}
    ).one()
    return int(count), (float(first) if first is not None else None)


def store_checked(conn: Connection, images: list[StoredImage]) -> None:
    """Pulled images that passed ``checked`` (one already here is kept: same hash, same bytes)."""
    put_images(conn, images)


# ---------------------------------------------------------------------------- central side


def push(cur: Any, partner: str, device: str, images: ImageRows) -> int:
    """Send the images central lacks (in the push's transaction); the number sent."""
    wanted = {r[0]: r for r in images.rows if len(r[4]) <= MAX_IMAGE_BYTES}
    for sha, *_rest, data in images.rows:
        if sha not in wanted:
            log.warning(
                "central sync: template image %s is %s bytes, more than the central limit of %s; not sent",
                sha,
                f"{len(data):,}",
                f"{MAX_IMAGE_BYTES:,}",
            )
    if not wanted:
        return 0
    cur.execute(f"SELECT id FROM {IMAGE_TABLE} WHERE id = ANY(%s)", (sorted(wanted),))
    for (sha,) in cur.fetchall():
        wanted.pop(sha, None)
    if not wanted:
        return 0
    now = time.time()
    execute_values(
        cur,
        f"INSERT INTO {IMAGE_TABLE} (partner_id, id, ext, width, height, data, created_at, origin)"
        " VALUES %s ON CONFLICT (partner_id, id) DO NOTHING",
        [
            (partner, sha, ext, w, h, psycopg2.Binary(data), now, device)
            for sha, ext, w, h, data in sorted(wanted.values())
        ],
        page_size=10,
    )
    return len(wanted)


def read_central(
    cur: Any,
    device: str,
    tx_from: int,
    after_tx: int,
    after_key: str,
    xmin: int,
    *,
    max_rows: int = PULL_ROWS,
    max_bytes: int = PULL_BYTES,
) -> tuple[list[dict[str, Any]], bool]:
    """One page of other devices' images written in ``[tx_from, xmin)`` after ``(after_tx,
    after_key)``, in ``(tx, id)`` order, within ``max_rows`` and ``max_bytes`` (at least one
    row); and whether the page was cut (more may follow)."""
    cur.execute(
        f"SELECT id, tx, octet_length(data) AS size FROM {IMAGE_TABLE}"
        " WHERE origin <> %s AND tx >= %s AND tx < %s AND (tx, id) > (%s, %s) ORDER BY tx, id LIMIT %s",
        (device, tx_from, xmin, after_tx, after_key, max_rows),
    )
    heads = [dict(r) for r in cur.fetchall()]
    cut = len(heads) >= max_rows
    total, keep = 0, []
    for h in heads:
        if keep and total + int(h["size"]) > max_bytes:
            cut = True
            break
        keep.append(h)
        total += int(h["size"])
    if not keep:
        return [], False
    cur.execute(
        f"SELECT id, ext, data, origin, tx FROM {IMAGE_TABLE} WHERE id = ANY(%s)", ([h["id"] for h in keep],)
    )
    found = {r["id"]: dict(r) for r in cur.fetchall()}
    return [found[h["id"]] for h in keep if h["id"] in found], cut


def checked(rows: list[dict[str, Any]]) -> tuple[list[StoredImage], list[Refused]]:
    """Pulled rows checked by ``check_stored`` (CPU-bound: run it on an executor)."""
    good: list[StoredImage] = []
    refused: list[Refused] = []
    for r in rows:
        sha, origin = str(r["id"]), str(r.get("origin", ""))
        try:
            good.append(
                check_stored(sha, r["ext"], r["data"], f"template image {sha[:64]}.{str(r['ext'])[:8]}")
            )
        except TemplateInputError as exc:
            refused.append(Refused(sha, origin, str(exc)))
    return good, refused


__all__ = [
    "ImageRows",
    "Refused",
    "backlog",
    "checked",
    "mark_local",
    "push",
    "read_central",
    "read_local",
    "store_checked",
]
