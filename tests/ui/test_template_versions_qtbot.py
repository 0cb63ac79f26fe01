"""The template page's versions and file panel, through the real app: versions listed after two
saves, a restore is a new version, export writes a file that import reads back as a new
template, and a file with a <script> is refused with its reason shown and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import settle


async def open_template_page(desktop: Desktop):  # type: ignore[no-untyped-def]
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event(
        {"name": "Versions 5K", "date": "2026-05-08", "timezone": "UTC"}
    )
    w.flow.set_event(event.id)
    await w.flow.ensure_session()
    assert w.go(w.pages.index(w.template_page))
    await settle()
    return w.template_page


async def test_versions_restore_export_import_and_a_refused_file(desktop: Desktop, tmp_path: Path) -> None:
    page = await open_template_page(desktop)
    templates = desktop.services.templates
    panel = page.versions
    await until(lambda: panel.labels() == ["v1  builtin  (current)"], what="the built-in's one version")
    assert not panel.restore_button.isEnabled()

    # two saves: the built-in's copy (v1), then a change (v2)
    page.set_color("accent", "#ff3366")
    tid = await page.save()
    page.set_color("accent", "#22cc88")
    assert await page.save() == tid
    await until(lambda: len(panel.labels()) == 2, what="two versions listed")
    labels = panel.labels()
    assert labels[0].startswith("v2  saved") and labels[0].endswith("(current)"), labels
    assert labels[1].startswith("v1  saved") and "(current)" not in labels[1], labels

    # preview v1: the preview shows v1's accent, the form still the current template
    panel.select_version(1)
    await until(lambda: page.preview.template.get("version") == 1, what="v1 previewed")
    assert page.preview.template["theme"]["accent"] == "#ff3366"
    assert templates.get(tid)["theme"]["accent"] == "#22cc88"
    assert panel.restore_button.isEnabled()

    # restore v1: a new version 3 with v1's body
    restored = await panel.restore_selected()
    assert restored is not None and restored["version"] == 3
    assert templates.get(tid)["theme"]["accent"] == "#ff3366"
    await until(lambda: len(panel.labels()) == 3, what="three versions listed")
    assert panel.labels()[0].startswith("v3  restored"), panel.labels()
    assert page.accent.value == "#ff3366"

    # export, then import the file: a new template equal to the exported one
    path = await panel.export_to(tmp_path / "finish.rctemplate.json")
    file = json.loads(path.read_text("utf-8"))
    assert file["format"] == "race-control/template-file"
    before = {t["id"] for t in templates.list()}
    imported = await panel.import_from(path)
    assert imported is not None and imported["id"] not in before
    assert imported["theme"] == templates.get(tid)["theme"]
    assert imported["blocks"] == templates.get(tid)["blocks"]
    assert page._selected_id() == imported["id"]
    await until(lambda: panel.labels() and panel.labels()[0].startswith("v1  imported"), what="imported v1")

    # a file with a <script>: refused, its reason in the dialog, nothing changed
    file["template"]["blocks"][0]["text"] = "<script>alert(1)</script>"
    bad = tmp_path / "bad.rctemplate.json"
    bad.write_text(json.dumps(file), "utf-8")
    listed = templates.list()
    assert await panel.import_from(bad) is None
    assert "script" in panel.last_error and "$.template.blocks[0].text" in panel.last_error, panel.last_error
    box = panel.refused
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "refused: script" in box.text(), box.text()
    assert "refused: script" in page.message.text()
    assert templates.list() == listed
    box.close()

    # not JSON at all: named too
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x89PNG not a template")
    assert await panel.import_from(junk) is None
    assert "not a template file" in panel.last_error
    panel.refused.close()  # type: ignore[union-attr]
    assert templates.list() == listed
