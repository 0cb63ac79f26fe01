"""The stored history of custom templates and their images (tables ``template_versions`` and
``template_images``, store migration 0013).

Writes are ``UnitOfWork.write`` functions (they run inside the action's one transaction);
reads are plain functions for ``Store.run`` (executor thread, never the event loop).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert

from race_control.store.models import TemplateImage, TemplateVersion
from race_control.templates.images import StoredImage

ORIGINS = ("saved", "restored", "imported", "synced", "existing")


def write_version(conn: Connection, row: dict[str, Any]) -> None:
    """One version row (``template_id, version, name, mode, body, saved_at, origin``); a synced
    version that this laptop already has under that number is replaced by the synced one."""
    t = TemplateVersion.__table__
    stmt = insert(t).values(**row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["template_id", "version"], set_=row))


def delete_versions(conn: Connection, template_id: str) -> None:
    t = TemplateVersion.__table__
    conn.execute(t.delete().where(t.c.template_id == template_id))


def list_versions(conn: Connection, template_id: str) -> list[dict[str, Any]]:
    """Every stored version of a template, newest first, without bodies."""
    t = TemplateVersion.__table__
    q = (
        select(t.c.version, t.c.saved_at, t.c.name, t.c.mode, t.c.origin)
        .where(t.c.template_id == template_id)
        .order_by(t.c.version.desc())
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def get_version(conn: Connection, template_id: str, version: int) -> dict[str, Any] | None:
    t = TemplateVersion.__table__
    q = select(t).where(t.c.template_id == template_id, t.c.version == version)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def put_images(conn: Connection, images: list[StoredImage]) -> None:
    """Store images by content hash; one already stored is kept (same hash: same bytes)."""
    t = TemplateImage.__table__
    for img in images:
        values = {
            "sha256": img.sha256,
            "ext": img.ext,
            "width": img.width,
            "height": img.height,
            "data": img.data,
        }
        conn.execute(insert(t).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))


def get_images(conn: Connection, hashes: list[str]) -> dict[str, StoredImage]:
    t = TemplateImage.__table__
    found: dict[str, StoredImage] = {}
    for i in range(0, len(hashes), 500):
        q = select(t).where(t.c.sha256.in_(hashes[i : i + 500]))
        for r in conn.execute(q).mappings():
            found[r["sha256"]] = StoredImage(r["sha256"], r["ext"], r["width"], r["height"], bytes(r["data"]))
    return found


def count_images(conn: Connection) -> int:
    return len(list(conn.execute(select(TemplateImage.__table__.c.sha256))))
