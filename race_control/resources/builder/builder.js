/*
 * Race Control template builder (served at /builder?template=<id>; docs/templates.md#builder).
 *
 * The canvas is a frame (/builder/canvas) running the display page's own scripts: what it
 * shows is what a screen shows. Over it lies an overlay of boxes (one per block) that take
 * the mouse: select (click, Shift+click, a rubber band), drag, resize by handles, with
 * snapping and guides; align, distribute, group, copy and paste (builder-arrange.js). Every
 * change is a command on the stack in builder-commands.js (Ctrl+Z / Ctrl+Shift+Z). Save
 * writes a new version through /builder/api/templates (the same operation as PUT /api/templates).
 * Text only ever goes in through textContent and input values.
 */
(function () {
  'use strict';

  var B = window.RCB;
  var $ = function (id) { return document.getElementById(id); };
  var SNAP_PX = 8;            // screen pixels within which an edge snaps to another's
  var HANDLES = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

  var CLIP_KEY = 'race-control.builder.clipboard';   // localStorage: paste into another template
  var PASTE_STEP = 20;       // canvas pixels between a copy and its paste

  var params = new URLSearchParams(window.location.search);
  var ui = {
    history: new B.History(blankTemplate()),
    templateId: params.get('template') || '',
    builtin: false,
    fonts: [],               // the bundled fonts: [{name, label, use, stack}] from /display/fonts/fonts.json
    selected: -1,            // the primary selected block (the panel's), or -1
    sel: [],                 // every selected block index, sorted (a group is selected whole)
    scale: 1,
    frameReady: false,
    guides: [],
    drag: null,
    band: null,              // the rubber band being drawn {x1, y1, x2, y2}
    clip: null,              // the last copied blocks (also in localStorage)
    clipText: '',
    pastes: 0,               // pastes of that copy so far: each lands PASTE_STEP further
    pasteTimer: 0,
    savedJson: '',
    uploads: 0,              // image uploads under way
    editMode: ''             // the layout edited and drawn: 'results' | 'pre-race' ('' : the template's mode)
  };

  var MODES = ['results', 'pre-race'];
  var MODE_LABEL = { 'results': 'Results', 'pre-race': 'Pre-race' };
  var BURST_MAX = 8;          // cards of a burst page at most (the page's GRID_MAX)

  // The layout being edited; a block shows in it if its `modes` list it, or (no `modes`) if
  // it is the template's own mode (rc-template.js blockModes: the page's rule).
  function editMode() { return ui.editMode || doc().mode; }
  function blockModes(b) { return Array.isArray(b.modes) ? b.modes : [doc().mode]; }
  function shown(i) { var b = doc().blocks[i]; return !!b && blockModes(b).indexOf(editMode()) >= 0; }
  function shownOnly(list) { return list.filter(shown); }

  function blankTemplate() {
    return {
      schema_version: 2, name: 'New template', mode: 'results',
      canvas: { width: 1920, height: 1080 },
      theme: { background: '#070b16', foreground: '#ffffff', accent: '#ffd21f', font: 'display' },
      blocks: []
    };
  }

  function doc() { return ui.history.doc; }

  function status(text, isError) {
    var s = $('status');
    s.textContent = text;
    s.className = 'status' + (isError ? ' error' : '');
  }

  // ---------------------------------------------------------------- server
  function api(method, path, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-Race-Control-Builder'] = '1';
      opts.body = JSON.stringify(body);
    }
    return fetch('/builder/api' + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error((data && data.error) || ('HTTP ' + r.status));
        return { data: data, headers: r.headers };
      });
    });
  }

  function cleanForSave(d) {
    var out = JSON.parse(JSON.stringify(d));
    delete out.id; delete out.version; delete out.format;
    delete out.saved_at; delete out.origin;
    return out;
  }

  function load() {
    if (!ui.templateId) { afterLoad(); return; }
    status('Loading…');
    Promise.all([api('GET', '/templates'), api('GET', '/templates/' + encodeURIComponent(ui.templateId))])
      .then(function (res) {
        res[0].data.forEach(function (t) { if (t.id === ui.templateId) ui.builtin = !!t.builtin; });
        var t = res[1].data;
        if (!t.canvas) t.canvas = { width: 1920, height: 1080 };
        ui.history = new B.History(cleanForSave(t));
        afterLoad();
        status(ui.builtin ? 'Built-in template: Save makes your own copy' : 'Version ' + t.version);
      })
      .catch(function (e) { status('Could not load the template: ' + e.message, true); afterLoad(); });
  }

  function afterLoad() {
    ui.savedJson = JSON.stringify(doc());
    ui.selected = -1;
    ui.sel = [];
    refresh();
  }

  function save() {
    var body = cleanForSave(doc());
    var custom = ui.templateId && !ui.builtin;
    if (!custom && ui.builtin && body.name.indexOf('(copy)') < 0) body.name = (body.name + ' (copy)').slice(0, 120);
    status('Saving…');
    var req = custom ? api('PUT', '/templates/' + encodeURIComponent(ui.templateId), body) : api('POST', '/templates', body);
    return req.then(function (res) {
      var t = res.data;
      if (!custom) {
        ui.templateId = t.id;
        ui.builtin = false;
        history.replaceState(null, '', '/builder?template=' + encodeURIComponent(t.id));
        if (doc().name !== t.name) ui.history.run('rename', function (d) { d.name = t.name; });
      }
      ui.savedJson = JSON.stringify(doc());
      var n = res.headers.get('X-Sessions-Restyled');
      status('Saved version ' + t.version + (n && n !== '0' ? ' — ' + n + ' session(s) restyled' : ''));
      refresh();
      return t;
    }).catch(function (e) { status('Not saved: ' + e.message, true); });
  }

  // ---------------------------------------------------------------- canvas frame
  var pendingRender = false;
  function renderCanvas() {
    if (pendingRender) return;
    pendingRender = true;
    window.requestAnimationFrame(function () {
      pendingRender = false;
      var f = $('canvas-frame').contentWindow;
      if (!ui.frameReady || !f || !f.rcBuilderCanvas) return;
      var kind = $('sample').value;
      var list = B.SAMPLES[kind] || [];
      var now = Date.now(), ss = B.SAMPLE_SESSION;
      f.rcBuilderCanvas.show(doc(), list, kind === 'bunch' ? 'grid' : 'single',
        { event_name: ss.event_name, name: ss.name, gun_at: now - ss.gun_minutes_ago * 60000,
          starts_at: now + ss.starts_in_minutes * 60000 }, B.sampleEarlier(kind), editMode());
    });
  }

  function layout() {
    var d = doc(), ed = $('editor');
    var pad = 24;
    var k = Math.min((ed.clientWidth - 2 * pad) / d.canvas.width, (ed.clientHeight - 2 * pad) / d.canvas.height);
    ui.scale = k > 0 ? k : 0.1;
    var frame = $('canvas-frame'), stage = $('stage'), ov = $('overlay');
    frame.style.width = d.canvas.width + 'px';
    frame.style.height = d.canvas.height + 'px';
    stage.style.width = ov.style.width = d.canvas.width + 'px';
    stage.style.height = ov.style.height = d.canvas.height + 'px';
    var left = Math.round((ed.clientWidth - d.canvas.width * ui.scale) / 2);
    var top = Math.round((ed.clientHeight - d.canvas.height * ui.scale) / 2);
    stage.style.transform = 'translate(' + left + 'px,' + top + 'px) scale(' + ui.scale + ')';
  }

  // ---------------------------------------------------------------- overlay
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function label(type) {
    var out = type;
    B.PALETTE.forEach(function (p) { if (p[0] === type) out = p[1]; });
    return out;
  }

  function isSel(i) { return ui.sel.indexOf(i) >= 0; }

  function handlesOn(parent, w, h, inv) {
    HANDLES.forEach(function (hname) {
      var hd = el('div', 'handle');
      hd.dataset.h = hname;
      var s = 12 * inv;
      hd.style.width = hd.style.height = s + 'px';
      hd.style.borderWidth = 2 * inv + 'px';
      hd.style.left = (hname.indexOf('w') >= 0 ? -s / 2 : hname.indexOf('e') >= 0 ? w - s / 2 : w / 2 - s / 2) + 'px';
      hd.style.top = (hname.indexOf('n') >= 0 ? -s / 2 : hname.indexOf('s') >= 0 ? h - s / 2 : h / 2 - s / 2) + 'px';
      parent.appendChild(hd);
    });
  }

  function tagOn(parent, text, inv) {
    var tag = el('span', 'tag', text);
    tag.style.transform = 'scale(' + inv + ')';
    parent.appendChild(tag);
  }

  function selectionLocked() {
    var d = doc();
    return ui.sel.length > 0 && ui.sel.every(function (i) { return d.blocks[i].locked; });
  }

  // One box per block; the selected ones outlined. One block alone has its handles; a
  // multi-selection (or a group) has one frame round all of it, with the handles on that.
  function drawOverlay() {
    var ov = $('overlay'), d = doc(), inv = 1 / ui.scale;
    var multi = ui.sel.length > 1;
    ov.textContent = '';
    d.blocks.forEach(function (b, i) {
      if (!shown(i)) return;               // another layout's block (the mode switch)
      var on = isSel(i);
      var box = el('div', 'box' + (on ? ' selected' : '') + (b.locked ? ' locked' : '') + (b.group ? ' grouped' : ''));
      box.dataset.index = String(i);
      if (b.group) box.dataset.group = b.group;
      box.style.left = b.x + 'px'; box.style.top = b.y + 'px';
      box.style.width = b.w + 'px'; box.style.height = b.h + 'px';
      box.style.outlineWidth = (on ? 2 : 1) * inv + 'px';
      if (on && !multi) {
        tagOn(box, label(b.type) + (b.locked ? ' (locked)' : ''), inv);
        if (!b.locked) handlesOn(box, b.w, b.h, inv);
      }
      ov.appendChild(box);
    });
    if (multi) {
      var r = B.bbox(d, ui.sel), us = B.units(d, ui.sel);
      var frame = el('div', 'selbox');
      frame.style.left = r.x + 'px'; frame.style.top = r.y + 'px';
      frame.style.width = r.w + 'px'; frame.style.height = r.h + 'px';
      frame.style.outlineWidth = 2 * inv + 'px';
      var grouped = us.length === 1 && d.blocks[ui.sel[0]].group;
      tagOn(frame, (grouped ? 'Group of ' + ui.sel.length : ui.sel.length + ' blocks') + (selectionLocked() ? ' (locked)' : ''), inv);
      if (!selectionLocked()) handlesOn(frame, r.w, r.h, inv);
      ov.appendChild(frame);
    }
    if (ui.band) {
      var band = el('div', 'band');
      var bx = Math.min(ui.band.x1, ui.band.x2), by = Math.min(ui.band.y1, ui.band.y2);
      band.style.left = bx + 'px'; band.style.top = by + 'px';
      band.style.width = Math.abs(ui.band.x2 - ui.band.x1) + 'px';
      band.style.height = Math.abs(ui.band.y2 - ui.band.y1) + 'px';
      band.style.borderWidth = inv + 'px';
      ov.appendChild(band);
    }
    ui.guides.forEach(function (g) {
      var line = el('div', 'guide');
      line.dataset.axis = g.axis;
      if (g.axis === 'x') {
        line.style.left = (g.at - inv / 2) + 'px'; line.style.top = '0px';
        line.style.width = inv + 'px'; line.style.height = d.canvas.height + 'px';
      } else {
        line.style.top = (g.at - inv / 2) + 'px'; line.style.left = '0px';
        line.style.height = inv + 'px'; line.style.width = d.canvas.width + 'px';
      }
      ov.appendChild(line);
    });
  }

  function toCanvas(ev) {
    var r = $('overlay').getBoundingClientRect();
    return { x: (ev.clientX - r.left) / ui.scale, y: (ev.clientY - r.top) / ui.scale };
  }

  function snapOpts(ev) {
    var on = $('snap').checked && !(ev && ev.altKey);
    return { edges: on, grid: on ? Number($('grid-size').value) : 1, threshold: SNAP_PX / ui.scale, min: 8, shown: shown };
  }

  // Shift+click adds a block (its whole group) to the selection or takes it out; a click on an
  // unselected block selects it (its group); a click on a selected one keeps the selection so
  // the whole of it can be dragged.
  function onPointerDown(ev) {
    if (ev.button !== 0) return;
    var target = ev.target;
    var handle = target.classList.contains('handle') ? target.dataset.h : null;
    var box = handle ? target.parentNode : (target.classList.contains('box') ? target : null);
    var p = toCanvas(ev);
    if (!box) {                                     // the background: a rubber band
      ev.preventDefault();
      ui.band = { x1: p.x, y1: p.y, x2: p.x, y2: p.y, add: ev.shiftKey, base: ev.shiftKey ? ui.sel.slice() : [], moved: false };
      $('overlay').setPointerCapture(ev.pointerId);
      return;
    }
    var d = doc(), moving;
    if (box.classList.contains('selbox')) {
      moving = ui.sel.slice();
    } else {
      var i = Number(box.dataset.index);
      var members = B.withGroups(d, [i]);
      if (ev.shiftKey) {
        if (isSel(i)) setSelection(ui.sel.filter(function (j) { return members.indexOf(j) < 0; }), -2);
        else setSelection(ui.sel.concat(members), i);
        return;
      }
      if (!isSel(i)) setSelection(members, i);
      else if (ui.selected !== i) { ui.selected = i; drawPanel(false); }
      moving = ui.sel.slice();
    }
    moving = moving.filter(function (j) { return !d.blocks[j].locked; });
    if (!moving.length) return;
    ev.preventDefault();
    var rects = {};
    moving.forEach(function (j) { var b = d.blocks[j]; rects[j] = { x: b.x, y: b.y, w: b.w, h: b.h }; });
    ui.drag = { indices: moving, handle: handle, start: p, rects: rects, box: B.bbox(d, moving),
      before: JSON.stringify(d), moved: false };
    $('overlay').setPointerCapture(ev.pointerId);
  }

  function bandHits() {
    var r = ui.band, d = doc();
    var x1 = Math.min(r.x1, r.x2), x2 = Math.max(r.x1, r.x2), y1 = Math.min(r.y1, r.y2), y2 = Math.max(r.y1, r.y2);
    var hits = [];
    d.blocks.forEach(function (b, i) {
      if (shown(i) && b.x < x2 && b.x + b.w > x1 && b.y < y2 && b.y + b.h > y1) hits.push(i);
    });
    return shownOnly(B.withGroups(d, r.base.concat(hits)));
  }

  function onPointerMove(ev) {
    if (ui.band) {
      var q = toCanvas(ev);
      ui.band.x2 = q.x; ui.band.y2 = q.y;
      if (Math.abs(q.x - ui.band.x1) * ui.scale >= 3 || Math.abs(q.y - ui.band.y1) * ui.scale >= 3) ui.band.moved = true;
      if (ui.band.moved) { ui.sel = bandHits(); ui.selected = ui.sel.length ? ui.sel[ui.sel.length - 1] : -1; }
      drawOverlay();
      return;
    }
    var dr = ui.drag;
    if (!dr) return;
    var p = toCanvas(ev), dx = p.x - dr.start.x, dy = p.y - dr.start.y;
    if (!dr.moved && Math.abs(dx) * ui.scale < 2 && Math.abs(dy) * ui.scale < 2) return;
    dr.moved = true;
    var d = doc(), r = dr.box, out;
    if (!dr.handle) {
      out = B.snapMove(d, dr.indices, { x: r.x + dx, y: r.y + dy, w: r.w, h: r.h }, snapOpts(ev));
      dr.indices.forEach(function (j) {
        d.blocks[j].x = Math.round(dr.rects[j].x + out.x - r.x);
        d.blocks[j].y = Math.round(dr.rects[j].y + out.y - r.y);
      });
    } else {
      var h = dr.handle, n = { x: r.x, y: r.y, w: r.w, h: r.h };
      if (h.indexOf('w') >= 0) { n.x = r.x + dx; n.w = r.w - dx; }
      if (h.indexOf('e') >= 0) n.w = r.w + dx;
      if (h.indexOf('n') >= 0) { n.y = r.y + dy; n.h = r.h - dy; }
      if (h.indexOf('s') >= 0) n.h = r.h + dy;
      out = B.snapResize(d, dr.indices, n, h, snapOpts(ev));
      if (dr.indices.length === 1) {
        var b = d.blocks[dr.indices[0]];
        b.x = out.x; b.y = out.y; b.w = out.w; b.h = out.h;
      } else {
        B.scaleTo(d, dr.indices, r, out, dr.rects);
      }
    }
    ui.guides = out.guides;
    drawOverlay();
    renderCanvas();
    drawPanel(true);
  }

  function onPointerUp() {
    if (ui.band) {
      var band = ui.band;
      ui.band = null;
      if (!band.moved && !band.add) setSelection([], -1);
      else drawOverlay();
      drawPanel(false);
      return;
    }
    var dr = ui.drag;
    if (!dr) return;
    ui.drag = null;
    ui.guides = [];
    if (dr.moved) ui.history.record(dr.handle ? 'resize' : 'move', dr.before);
    refresh();
  }

  // ---------------------------------------------------------------- commands
  function run(labelText, mutate) {
    if (ui.history.run(labelText, mutate)) refresh();
  }

  // Select `indices` (each with its whole group); `primary` is the panel's block (-2: keep it
  // if it is still selected, else the last).
  function setSelection(indices, primary) {
    ui.sel = shownOnly(B.withGroups(doc(), indices));
    if (primary === -2) primary = isSel(ui.selected) ? ui.selected : -1;
    ui.selected = isSel(primary) ? primary : (ui.sel.length ? ui.sel[ui.sel.length - 1] : -1);
    drawOverlay();
    drawPanel(false);
  }

  function select(i) { setSelection(i >= 0 ? [i] : [], i); }

  function addBlock(type) {
    var d = doc();
    var b = B.newBlock(type, d.canvas, d.canvas.width / 2, d.canvas.height / 2);
    if (editMode() !== d.mode) b.modes = [editMode()];   // added to the layout being edited
    if (d.blocks.length >= B.MAX_BLOCKS) { status('A template holds at most 100 blocks', true); return; }
    run('add ' + type, function (x) { x.blocks.push(b); });
    select(doc().blocks.length - 1);
  }

  function current() { return ui.selected >= 0 ? doc().blocks[ui.selected] : null; }

  // Set one field of the primary block (the panel edits it).
  function setField(path, value) {
    var i = ui.selected;
    if (i < 0) return;
    run('edit ' + path.join('.'), function (d) {
      var o = d.blocks[i];
      for (var k = 0; k < path.length - 1; k++) {
        if (!o[path[k]] || typeof o[path[k]] !== 'object') o[path[k]] = {};
        o = o[path[k]];
      }
      var last = path[path.length - 1];
      if (value === '' || value === null || value === undefined) delete o[last];
      else o[last] = value;
    });
  }

  function movable() {
    var d = doc();
    return ui.sel.filter(function (i) { return !d.blocks[i].locked; });
  }

  function nudge(dx, dy) {
    var list = movable();
    if (!list.length) return;
    run('nudge', function (d) {
      list.forEach(function (i) { d.blocks[i].x = Math.round(d.blocks[i].x + dx); d.blocks[i].y = Math.round(d.blocks[i].y + dy); });
    });
  }

  function removeSelected() {
    var list = movable();
    if (!list.length) return;
    setSelection([], -1);
    run('delete', function (d) {
      d.blocks = d.blocks.filter(function (b, i) { return list.indexOf(i) < 0; });
    });
  }

  function toggleLock() {
    if (!ui.sel.length) return;
    var lock = !selectionLocked(), list = ui.sel.slice();
    run(lock ? 'lock' : 'unlock', function (d) {
      list.forEach(function (i) { if (lock) d.blocks[i].locked = true; else delete d.blocks[i].locked; });
    });
  }

  function arrange(what, fn) {
    var list = ui.sel.slice();
    if (!list.length) return;
    run(what, function (d) { fn(d, list); });
  }

  function groupSelected() {
    if (ui.sel.length < 2) return;
    arrange('group', function (d, list) { B.group(d, list); });
  }

  function ungroupSelected() {
    var d = doc();
    if (!ui.sel.some(function (i) { return d.blocks[i].group; })) return;
    var list = ui.sel.slice();
    arrange('ungroup', function (x) { B.ungroup(x, list); });
    ui.sel = list;
    drawOverlay();
  }

  // ---------------------------------------------------------------- copy / paste
  function copySelected() {
    if (!ui.sel.length) return null;
    ui.clip = B.copyOf(doc(), ui.sel);
    ui.pastes = 0;
    ui.clipText = JSON.stringify(ui.clip);
    try { window.localStorage.setItem(CLIP_KEY, ui.clipText); } catch (e) { /* storage off: this page only */ }
    status('Copied ' + ui.sel.length + ' block' + (ui.sel.length > 1 ? 's' : ''));
    return ui.clipText;
  }

  // The blocks of a clipboard text (ours only); a new text starts the paste offsets again.
  function takeClip(text) {
    if (text && text !== ui.clipText) {
      var blocks = B.readClip(text);
      if (!blocks) return false;
      ui.clipText = text;
      ui.clip = { blocks: blocks };
      ui.pastes = 0;
    }
    return !!(text && ui.clip);
  }

  function pasteStored() {
    var text = null;
    try { text = window.localStorage.getItem(CLIP_KEY); } catch (e) { /* storage off */ }
    if (!takeClip(text) && !ui.clip) return;
    pasteBlocks(ui.clip.blocks);
  }

  // Blocks pasted while another layout is edited belong to that layout (a copy from the
  // results layout pasted into pre-race shows in pre-race).
  function intoLayout(d, indices) {
    var mode = editMode();
    indices.forEach(function (i) {
      var b = d.blocks[i], list = Array.isArray(b.modes) ? b.modes : [d.mode];
      if (list.indexOf(mode) >= 0) return;
      if (mode === d.mode) delete b.modes; else b.modes = [mode];
    });
  }

  // Paste copies PASTE_STEP further than the last paste, and select them.
  function pasteBlocks(blocks) {
    if (!blocks || !blocks.length) return;
    if (doc().blocks.length + blocks.length > B.MAX_BLOCKS) { status('A template holds at most 100 blocks', true); return; }
    ui.pastes += 1;
    var offset = PASTE_STEP * ui.pastes, added = [];
    run('paste', function (d) { added = B.paste(d, blocks, offset); intoLayout(d, added); });
    setSelection(added, added[added.length - 1]);
  }

  function duplicateSelected() {
    if (!ui.sel.length) return;
    var blocks = B.copyOf(doc(), ui.sel).blocks;
    if (doc().blocks.length + blocks.length > B.MAX_BLOCKS) { status('A template holds at most 100 blocks', true); return; }
    var added = [];
    run('duplicate', function (d) { added = B.paste(d, blocks, PASTE_STEP); });
    setSelection(added, added[added.length - 1]);
  }

  function reorder(toFront) {
    var i = ui.selected, n = doc().blocks.length;
    if (i < 0 || ui.sel.length > 1 || (toFront && i === n - 1) || (!toFront && i === 0)) return;
    var j = toFront ? n - 1 : 0;
    run(toFront ? 'bring to front' : 'send to back', function (d) {
      var b = d.blocks.splice(i, 1)[0];
      d.blocks.splice(j, 0, b);
    });
    select(j);
  }

  // The mode switch: edit (and draw) the results or the pre-race layout. A view, not a change:
  // the document is the same; the selection is dropped (its blocks may not be in this layout).
  function switchMode(mode) {
    if (MODES.indexOf(mode) < 0 || mode === editMode()) return;
    ui.editMode = mode;
    ui.sel = [];
    ui.selected = -1;
    refresh();
  }

  function undo() { if (ui.history.undo()) { clampSelection(); refresh(); } }
  function redo() { if (ui.history.redo()) { clampSelection(); refresh(); } }
  function clampSelection() {
    var n = doc().blocks.length;
    ui.sel = shownOnly(B.withGroups(doc(), ui.sel.filter(function (i) { return i < n; })));
    if (!isSel(ui.selected)) ui.selected = ui.sel.length ? ui.sel[ui.sel.length - 1] : -1;
  }

  function refresh() {
    var d = doc();
    $('tpl-name').value = d.name;
    $('tpl-mode').value = d.mode;
    Array.prototype.forEach.call(document.querySelectorAll('#edit-mode button'), function (btn) {
      btn.setAttribute('aria-pressed', btn.dataset.mode === editMode() ? 'true' : 'false');
    });
    var size = d.canvas.width + 'x' + d.canvas.height, sel = $('canvas-size');
    if (!Array.prototype.some.call(sel.options, function (o) { return o.value === size; })) {
      var o = el('option', '', 'Custom ' + d.canvas.width + '×' + d.canvas.height);
      o.value = size;
      sel.appendChild(o);
    }
    sel.value = size;
    $('undo').disabled = !ui.history.undoStack.length;
    $('redo').disabled = !ui.history.redoStack.length;
    layout();
    drawOverlay();
    drawPanel(false);
    renderCanvas();
  }

  // ---------------------------------------------------------------- style panel
  function row(parent, text, input) {
    var r = el('div', 'row');
    var l = el('label', '', text);
    r.appendChild(l);
    r.appendChild(input);
    parent.appendChild(r);
    return input;
  }

  function numberInput(value, onChange, name) {
    var i = el('input');
    i.type = 'number';
    i.name = name;
    i.value = value === undefined ? '' : String(value);
    i.addEventListener('change', function () {
      if (i.value === '') { onChange(null); return; }
      var v = Number(i.value);
      if (isFinite(v)) onChange(v);
    });
    return i;
  }

  function textInput(value, onChange, name) {
    var i = el('input');
    i.type = 'text';
    i.name = name;
    i.maxLength = 500;
    i.value = value || '';
    i.addEventListener('change', function () { onChange(i.value); });
    return i;
  }

  function selectInput(value, options, onChange, name) {
    var s = el('select');
    s.name = name;
    options.forEach(function (o) {
      var opt = el('option', '', o[1]);
      opt.value = o[0];
      s.appendChild(opt);
    });
    s.value = value;
    s.addEventListener('change', function () { onChange(s.value); });
    return s;
  }

  // The font list is the server's (race_control/templates/fonts.py): only bundled fonts, which
  // screens load from this server too. '' = none given (the theme's font, or the page's default).
  function fontInput(value, none, onChange, name) {
    var choices = [['', none]].concat(ui.fonts.map(function (f) { return [f.name, f.label]; }));
    if (value && !ui.fonts.some(function (f) { return f.name === value; })) choices.push([value, value]);
    var wrap = el('span', 'font-pick');
    var s = selectInput(value || '', choices, onChange, name);
    var sample = el('span', 'font-sample', 'Zoë Ní 1:23:45');
    ui.fonts.forEach(function (f) { if (f.name === value) sample.style.fontFamily = f.stack; });
    wrap.appendChild(s);
    wrap.appendChild(sample);
    return wrap;
  }

  function loadFonts() {
    fetch('/display/fonts/fonts.json', { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (d) { ui.fonts = (d && d.fonts) || []; drawPanel(); })
      .catch(function () { status('Could not load the font list', true); });
  }

  function colorInput(value, onChange, name) {
    var i = el('input');
    i.type = 'text';
    i.name = name;
    i.placeholder = '#rrggbb';
    i.value = value || '';
    i.addEventListener('change', function () { onChange(i.value.trim()); });
    return i;
  }

  var TEXT_FIELDS = {
    text: [['text', 'Text']], bib: [['prefix', 'Prefix']], place: [['prefix', 'Prefix']],
    clock: [['label', 'Label'], ['empty_text', 'Before gun']],
    countdown: [['label', 'Label'], ['empty_text', 'No start'], ['done_text', 'After start']],
    leaderboard: [['title', 'Title']], image: [['alt', 'Alt text']],
    team: [['empty_text', 'No team']], recent: [['title', 'Title'], ['empty_text', 'Nobody yet']], qr: [['alt', 'Alt text']]
  };
  var LINES_TYPES = ['name', 'message', 'text'];

  // the blocks whose text the page fits, and so take an overflow choice
  var OVERFLOW_TYPES = ['name', 'bib', 'time', 'city_state', 'message', 'division', 'place', 'text', 'clock', 'countdown', 'team'];
  var OVERFLOW_CHOICES = [['', 'Auto (shrink, wrap, …)'], ['shrink', 'Shrink to fit'], ['ellipsis', 'Ellipsis …'], ['wrap', 'Wrap']];
  var ALIGN = [['left', 'Left'], ['center', 'Centre'], ['right', 'Right'], ['top', 'Top'], ['middle', 'Middle'], ['bottom', 'Bottom']];

  function buttons(parent, list) {
    var box = el('div', 'actions');
    list.forEach(function (a) {
      var btn = el('button', '', a[0]);
      btn.name = a[1];
      if (a[3]) btn.title = a[3];
      if (a[4]) btn.disabled = true;
      btn.addEventListener('click', a[2]);
      box.appendChild(btn);
    });
    parent.appendChild(box);
  }

  // Align / distribute / group: for the selection's units (one unit alone aligns on the canvas).
  function arrangePanel(p) {
    var d = doc(), us = B.units(d, ui.sel);
    var grouped = ui.sel.some(function (i) { return d.blocks[i].group; });
    p.appendChild(el('h2', '', us.length > 1 ? 'Align' : 'Align on the canvas'));
    buttons(p, ALIGN.map(function (a) {
      return [a[1], 'align-' + a[0], function () { arrange('align ' + a[0], function (x, list) { B.align(x, list, a[0]); }); }];
    }));
    buttons(p, [
      ['Distribute ↔', 'distribute-x', function () { arrange('distribute horizontally', function (x, list) { B.distribute(x, list, 'x'); }); }, 'Equal gaps, left to right (3 or more)', us.length < 3],
      ['Distribute ↕', 'distribute-y', function () { arrange('distribute vertically', function (x, list) { B.distribute(x, list, 'y'); }); }, 'Equal gaps, top to bottom (3 or more)', us.length < 3],
      ['Group', 'group', groupSelected, 'Ctrl+G', ui.sel.length < 2 || (us.length === 1 && grouped)],
      ['Ungroup', 'ungroup', ungroupSelected, 'Ctrl+Shift+G', !grouped]
    ]);
  }

  // ---------------------------------------------------------------- layouts and the burst
  var BURST_LAYOUTS = [['cards', 'Cards (columns × rows)'], ['list', 'List (one row each)']];

  function setBurst(what, key, value) {
    run('burst ' + what, function (d) {
      d.grid = d.grid || {};
      if (value === null || value === '') delete d.grid[key]; else d.grid[key] = value;
      if (!Object.keys(d.grid).length) delete d.grid;
    });
  }

  function clampInt(v, lo, hi) { return Math.max(lo, Math.min(hi, Math.round(v))); }

  // The layout being edited (the mode switch) and, for results, the burst: how several
  // finishers share the screen (template grid: layout, max, columns, dwell_s).
  function layoutPanel(p, d) {
    var mode = editMode();
    p.appendChild(el('h2', '', 'Layout: ' + MODE_LABEL[mode]));
    var count = d.blocks.filter(function (b, i) { return shown(i); }).length;
    if (mode !== d.mode && !count) {
      p.appendChild(el('p', 'hint', 'This template has no ' + MODE_LABEL[mode].toLowerCase() + ' layout yet: screens show the built-in ' +
        MODE_LABEL[mode].toLowerCase() + ' screen. Add a block to start one.'));
    } else {
      p.appendChild(el('p', 'hint', count + ' block' + (count === 1 ? '' : 's') + ' in this layout' +
        (mode === d.mode ? ' (the template\'s own mode).' : '.')));
    }
    if (mode !== 'results') return;
    var g = d.grid || {};
    p.appendChild(el('h2', '', 'Burst (several finishers at once)'));
    row(p, 'Layout', selectInput(g.layout || 'cards', BURST_LAYOUTS, function (v) { setBurst('layout', 'layout', v === 'cards' ? null : v); }, 'grid.layout'));
    row(p, 'At once', numberInput(g.max, function (v) { setBurst('size', 'max', v === null ? null : clampInt(v, 2, BURST_MAX)); }, 'grid.max'))
      .placeholder = String(BURST_MAX);
    if ((g.layout || 'cards') === 'cards') {
      row(p, 'Columns', numberInput(g.columns, function (v) { setBurst('columns', 'columns', v === null ? null : clampInt(v, 1, 4)); }, 'grid.columns'))
        .placeholder = '2';
    }
    row(p, 'Seconds each', numberInput(g.dwell_s, function (v) {
      setBurst('dwell', 'dwell_s', v === null ? null : Math.max(1, Math.min(60, Math.round(v * 10) / 10)));
    }, 'grid.dwell_s')).placeholder = 'auto';
    p.appendChild(el('p', 'hint', 'A screen shows a burst when 4 or more finishers wait (or "At once", if fewer): up to "At once" of them ' +
      'share the screen, each page for "Seconds each" (auto: shorter as the queue grows). Choose "Sample: bunch of 8" to see it.'));
  }

  // A file picker and drop zone: the image is sent to the server, which checks it, shrinks it
  // to `box()` and re-encodes it (templates/images.py), and stores it once by content hash;
  // `done(src)` gets its /display/images/<sha256>.<ext> address.
  function imagePicker(name, box, done) {
    var wrap = el('div', 'drop');
    wrap.dataset.name = name;
    var file = el('input');
    file.type = 'file';
    file.name = name;
    file.accept = 'image/png,image/jpeg,image/gif,image/webp';
    file.addEventListener('change', function () { if (file.files && file.files[0]) uploadImage(file.files[0], box(), done); });
    wrap.appendChild(file);
    wrap.appendChild(el('span', 'hint', 'or drop an image here'));
    wrap.addEventListener('dragover', function (ev) { ev.preventDefault(); wrap.classList.add('over'); });
    wrap.addEventListener('dragleave', function () { wrap.classList.remove('over'); });
    wrap.addEventListener('drop', function (ev) {
      ev.preventDefault();
      wrap.classList.remove('over');
      var f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (f) uploadImage(f, box(), done);
    });
    return wrap;
  }

  function uploadImage(f, box, done) {
    status('Checking ' + f.name + '…');
    var q = '?w=' + Math.max(1, Math.round(box.w)) + '&h=' + Math.max(1, Math.round(box.h));
    ui.uploads += 1;
    return fetch('/builder/api/images' + q, {
      method: 'POST', credentials: 'same-origin', body: f,
      headers: { 'Accept': 'application/json', 'X-Race-Control-Builder': '1', 'Content-Type': f.type || 'application/octet-stream' }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error((data && data.error) || ('HTTP ' + r.status));
        return data;
      });
    }).then(function (data) {
      done(data.src);
      status('Image stored: ' + data.width + '×' + data.height + ' px, ' + Math.round(data.bytes / 1024) + ' KiB');
    }).catch(function (e) {
      status('Image refused: ' + e.message, true);
    }).then(function () { ui.uploads -= 1; });
  }

  function drawPanel(rectOnly) {
    var p = $('panel'), b = current(), i = ui.selected;
    if (rectOnly && b && ui.sel.length === 1) {
      ['x', 'y', 'w', 'h'].forEach(function (k) {
        var input = p.querySelector('input[name="' + k + '"]');
        if (input) input.value = String(b[k]);
      });
      return;
    }
    if (rectOnly) return;
    p.textContent = '';
    if (!b) {
      p.appendChild(el('h2', '', 'Template'));
      var d = doc();
      row(p, 'Background', colorInput(d.theme && d.theme.background, function (v) {
        run('theme background', function (x) { x.theme = x.theme || {}; if (v) x.theme.background = v; else delete x.theme.background; });
      }, 'theme.background'));
      row(p, 'Text colour', colorInput(d.theme && d.theme.foreground, function (v) {
        run('theme foreground', function (x) { x.theme = x.theme || {}; if (v) x.theme.foreground = v; else delete x.theme.foreground; });
      }, 'theme.foreground'));
      row(p, 'Accent', colorInput(d.theme && d.theme.accent, function (v) {
        run('theme accent', function (x) { x.theme = x.theme || {}; if (v) x.theme.accent = v; else delete x.theme.accent; });
      }, 'theme.accent'));
      row(p, 'Font', fontInput(d.theme && d.theme.font, 'Default (Inter)', function (v) {
        run('theme font', function (x) { x.theme = x.theme || {}; if (v) x.theme.font = v; else delete x.theme.font; });
      }, 'theme.font'));
      row(p, 'Background image', imagePicker('theme-image', function () { return { w: d.canvas.width, h: d.canvas.height }; }, function (src) {
        run('background image', function (x) { x.theme = x.theme || {}; x.theme.background_image = src; });
      }));
      if (d.theme && d.theme.background_image) {
        buttons(p, [['Remove background image', 'theme-image-remove', function () {
          run('remove background image', function (x) { delete x.theme.background_image; });
        }]]);
      }
      layoutPanel(p, d);
      buttons(p, [['Paste', 'paste', pasteStored, 'Ctrl+V']]);
      p.appendChild(el('p', 'hint', 'Click a block to select it, Shift+click to add one, drag on the background for a rubber band; ' +
        'Ctrl+A selects all. Drag to move, drag a handle to resize (Alt: no snapping). Arrows nudge 1 px, Shift+arrows 10 px; ' +
        'Delete removes, Ctrl+C / Ctrl+V copy and paste, Ctrl+D duplicates, Ctrl+G / Ctrl+Shift+G group and ungroup, ' +
        'Ctrl+Z / Ctrl+Shift+Z undo and redo.'));
      return;
    }
    if (ui.sel.length > 1) {
      var us = B.units(doc(), ui.sel);
      var one = us.length === 1 && doc().blocks[ui.sel[0]].group;
      p.appendChild(el('h2', '', one ? 'Group of ' + ui.sel.length + ' blocks' : ui.sel.length + ' blocks selected'));
      arrangePanel(p);
      p.appendChild(el('h2', '', 'Selection'));
      buttons(p, [
        [selectionLocked() ? 'Unlock' : 'Lock', selectionLocked() ? 'unlock' : 'lock', toggleLock],
        ['Copy', 'copy', copySelected, 'Ctrl+C'], ['Paste', 'paste', pasteStored, 'Ctrl+V'],
        ['Duplicate', 'duplicate', duplicateSelected, 'Ctrl+D'], ['Delete', 'delete', removeSelected, 'Delete']
      ]);
      p.appendChild(el('p', 'hint', 'A group is selected, moved, resized and locked as one. Shift+click a block to add it or take it out.'));
      return;
    }
    var st = b.style || {};
    p.appendChild(el('h2', '', label(b.type) + ' block' + (b.group ? ' (grouped)' : '')));
    var pair = el('div', 'pair');
    ['x', 'y', 'w', 'h'].forEach(function (k) {
      var input = numberInput(b[k], function (v) { if (v !== null) setField([k], Math.round(v)); }, k);
      row(pair, k, input);
    });
    p.appendChild(pair);
    (TEXT_FIELDS[b.type] || []).forEach(function (f) {
      row(p, f[1], textInput(b[f[0]], function (v) { setField([f[0]], v); }, f[0]));
    });
    if (b.type === 'image') {
      row(p, 'Image file', imagePicker('image-file', function () { return { w: b.w, h: b.h }; }, function (src) {
        run('image', function (d) { d.blocks[i].src = src; });
      }));
    }
    var bm = blockModes(b);
    row(p, 'Shows in', selectInput(bm.length > 1 ? 'both' : bm[0] || editMode(),
      [['results', 'Results only'], ['pre-race', 'Pre-race only'], ['both', 'Results and pre-race']],
      function (v) {
        run('shows in ' + v, function (d) {
          var x = d.blocks[i];
          if (v === d.mode) delete x.modes;           // the template's own mode: no list needed
          else x.modes = v === 'both' ? MODES.slice() : [v];
        });
        if (!shown(i)) select(-1);                    // moved out of the layout being edited
      }, 'modes'));
    if (LINES_TYPES.indexOf(b.type) >= 0 && !st.overflow) {
      // Auto overflow: shrink the font, then wrap to `lines`, then an ellipsis
      row(p, 'Lines (wrap)', numberInput(b.lines, function (v) { setField(['lines'], v === null ? null : Math.max(1, Math.min(4, Math.round(v)))); }, 'lines'));
    }
    if (b.type === 'recent') {
      row(p, 'Finishers (1–20)', numberInput(b.rows, function (v) { setField(['rows'], v === null ? null : Math.max(1, Math.min(20, Math.round(v)))); }, 'rows'));
    }
    if (b.type !== 'image') {
      p.appendChild(el('h2', '', 'Style'));
      row(p, 'Font size', numberInput(st.size, function (v) { setField(['style', 'size'], v); }, 'style.size'));
      row(p, 'Weight', selectInput(String(st.weight || 700), [['100', 'Thin'], ['200', 'Extra light'], ['300', 'Light'], ['400', 'Regular'], ['500', 'Medium'], ['600', 'Semibold'], ['700', 'Bold'], ['800', 'Extra bold'], ['900', 'Black']],
        function (v) { setField(['style', 'weight'], Number(v)); }, 'style.weight'));
      row(p, 'Font', fontInput(st.font, 'Template font', function (v) { setField(['style', 'font'], v); }, 'style.font'));
      row(p, 'Colour', colorInput(st.color, function (v) { setField(['style', 'color'], v); }, 'style.color'));
      row(p, 'Background', colorInput(st.background, function (v) { setField(['style', 'background'], v); }, 'style.background'));
      row(p, 'Align', selectInput(st.align || 'left', [['left', 'Left'], ['center', 'Centre'], ['right', 'Right']],
        function (v) { setField(['style', 'align'], v); }, 'style.align'));
      if (OVERFLOW_TYPES.indexOf(b.type) >= 0) {
        row(p, 'Overflow', selectInput(st.overflow || '', OVERFLOW_CHOICES,
          function (v) { setField(['style', 'overflow'], v); }, 'style.overflow'));
      }
      boxStylePanel(p, st);
    }
    arrangePanel(p);
    p.appendChild(el('h2', '', 'Block'));
    buttons(p, [['Front', 'front', function () { reorder(true); }], ['Back', 'back', function () { reorder(false); }],
      [b.locked ? 'Unlock' : 'Lock', b.locked ? 'unlock' : 'lock', toggleLock],
      ['Copy', 'copy', copySelected, 'Ctrl+C'], ['Paste', 'paste', pasteStored, 'Ctrl+V'],
      ['Duplicate', 'duplicate', duplicateSelected, 'Ctrl+D'], ['Delete', 'delete', removeSelected, 'Delete']]);
    if (i >= 0) p.appendChild(el('p', 'hint', 'Layer ' + (i + 1) + ' of ' + doc().blocks.length +
      '. Finisher blocks (name, bib, time…) are drawn above the other blocks on a screen.'));
  }

  // The rest of the style panel (docs/templates.md#style): each change is one undoable command;
  // a number is kept within the schema's bounds, a cleared field is removed.
  var CASE_CHOICES = [['', 'As typed'], ['upper', 'UPPER'], ['lower', 'lower'], ['title', 'Title Case']];
  var SHADOW_CHOICES = [['', 'None'], ['soft', 'Soft'], ['strong', 'Strong']];

  function bounded(lo, hi, whole) {
    return function (v) {
      if (v === null) return null;
      v = Math.min(hi, Math.max(lo, v));
      return whole ? Math.round(v) : Math.round(v * 100) / 100;
    };
  }

  function boxStylePanel(p, st) {
    var lh = bounded(0.8, 3), px40 = bounded(0, 40, true), px200 = bounded(0, 200, true), unit = bounded(0, 1);
    row(p, 'Line height', numberInput(st.line_height, function (v) { setField(['style', 'line_height'], lh(v)); }, 'style.line_height'));
    row(p, 'Letter case', selectInput(st.case || '', CASE_CHOICES,
      function (v) { setField(['style', 'case'], v); }, 'style.case'));
    var border = st.border && typeof st.border === 'object' ? st.border : {};
    row(p, 'Border width', numberInput(border.width, function (v) { setBorder('width', px40(v)); }, 'style.border.width'));
    row(p, 'Border colour', colorInput(border.color, function (v) { setBorder('color', v); }, 'style.border.color'));
    row(p, 'Corner radius', numberInput(st.radius, function (v) { setField(['style', 'radius'], px200(v)); }, 'style.radius'));
    var shadow = typeof st.shadow === 'string' ? (st.shadow === 'none' ? '' : st.shadow) : (st.shadow ? 'custom' : '');
    var shadows = shadow === 'custom' ? SHADOW_CHOICES.concat([['custom', 'Custom (from the file)']]) : SHADOW_CHOICES;
    row(p, 'Shadow', selectInput(shadow, shadows, function (v) {
      if (v !== 'custom') setField(['style', 'shadow'], v);
    }, 'style.shadow'));
    row(p, 'Opacity (0–1)', numberInput(st.opacity, function (v) { setField(['style', 'opacity'], unit(v)); }, 'style.opacity'));
  }

  // border is {width, color}: without a width there is no border, so the colour goes with it
  function setBorder(key, value) {
    var i = ui.selected;
    if (i < 0) return;
    run('edit style.border.' + key, function (d) {
      var s = d.blocks[i].style = d.blocks[i].style || {};
      var bd = s.border && typeof s.border === 'object' ? s.border : {};
      if (value === '' || value === null) delete bd[key]; else bd[key] = value;
      if (typeof bd.width === 'number') s.border = bd;
      else if (key === 'color' && value) s.border = { width: 2, color: value };
      else delete s.border;
    });
  }

  // ---------------------------------------------------------------- keyboard
  function onKey(ev) {
    var tag = (ev.target && ev.target.tagName) || '';
    var typing = tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
    var mod = ev.ctrlKey || ev.metaKey;
    var key = ev.key;
    var k = key.length === 1 ? key.toLowerCase() : key;
    if (mod && k === 'z') { if (typing) return; ev.preventDefault(); if (ev.shiftKey) redo(); else undo(); return; }
    if (mod && k === 'y') { if (typing) return; ev.preventDefault(); redo(); return; }
    if (typing) return;
    if (mod && k === 'd') { ev.preventDefault(); duplicateSelected(); return; }
    if (mod && k === 's') { ev.preventDefault(); save(); return; }
    if (mod && k === 'a') { ev.preventDefault(); setSelection(shownOnly(doc().blocks.map(function (b, i) { return i; })), -2); return; }
    if (mod && k === 'g') { ev.preventDefault(); if (ev.shiftKey) ungroupSelected(); else groupSelected(); return; }
    if (mod && k === 'c') { copySelected(); return; }                // the copy event puts it on the clipboard too
    if (mod && k === 'x') { if (copySelected()) removeSelected(); return; }
    if (mod && k === 'v') {
      // the paste event (below) may bring blocks from another window; if none comes, paste ours
      window.clearTimeout(ui.pasteTimer);
      ui.pasteTimer = window.setTimeout(pasteStored, 0);
      return;
    }
    var step = ev.shiftKey ? 10 : 1;
    if (key === 'ArrowLeft') { ev.preventDefault(); nudge(-step, 0); }
    else if (key === 'ArrowRight') { ev.preventDefault(); nudge(step, 0); }
    else if (key === 'ArrowUp') { ev.preventDefault(); nudge(0, -step); }
    else if (key === 'ArrowDown') { ev.preventDefault(); nudge(0, step); }
    else if (key === 'Delete' || key === 'Backspace') { ev.preventDefault(); removeSelected(); }
    else if (key === 'Escape') select(-1);
  }

  function typingIn(ev) {
    var tag = (ev.target && ev.target.tagName) || '';
    return tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
  }

  function onCopy(ev) {
    if (typingIn(ev) || !ui.sel.length || !ev.clipboardData) return;
    ev.clipboardData.setData('text/plain', copySelected());   // also a copy from the browser's menu
    ev.preventDefault();
  }

  function onPaste(ev) {
    if (typingIn(ev) || !ev.clipboardData) return;
    var text = ev.clipboardData.getData('text/plain');
    if (!B.readClip(text)) return;
    window.clearTimeout(ui.pasteTimer);
    ev.preventDefault();
    takeClip(text);
    pasteBlocks(ui.clip.blocks);
  }

  // ---------------------------------------------------------------- start
  function start() {
    var pal = $('palette');
    B.PALETTE.forEach(function (p) {
      var btn = el('button', '', p[1]);
      btn.dataset.type = p[0];
      btn.addEventListener('click', function () { addBlock(p[0]); });
      pal.appendChild(btn);
    });
    var ov = $('overlay');
    ov.addEventListener('pointerdown', onPointerDown);
    ov.addEventListener('pointermove', onPointerMove);
    ov.addEventListener('pointerup', onPointerUp);
    ov.addEventListener('pointercancel', onPointerUp);
    document.addEventListener('keydown', onKey);
    document.addEventListener('copy', onCopy);
    document.addEventListener('paste', onPaste);
    window.addEventListener('resize', refresh);
    $('undo').addEventListener('click', undo);
    $('redo').addEventListener('click', redo);
    $('save').addEventListener('click', save);
    $('sample').addEventListener('change', renderCanvas);
    $('tpl-name').addEventListener('change', function () {
      var v = $('tpl-name').value.trim();
      if (v) run('rename', function (d) { d.name = v.slice(0, 120); }); else refresh();
    });
    $('tpl-mode').addEventListener('change', function () {
      var v = $('tpl-mode').value;
      ui.editMode = v;
      run('mode', function (d) { d.mode = v; });
    });
    Array.prototype.forEach.call(document.querySelectorAll('#edit-mode button'), function (btn) {
      btn.addEventListener('click', function () { switchMode(btn.dataset.mode); });
    });
    $('canvas-size').addEventListener('change', function () {
      var parts = $('canvas-size').value.split('x');
      run('canvas size', function (d) { B.resizeCanvas(d, Number(parts[0]), Number(parts[1])); });
    });
    var frame = $('canvas-frame');
    var ready = function () {
      if (frame.contentWindow && frame.contentWindow.rcBuilderCanvas) { ui.frameReady = true; renderCanvas(); }
    };
    frame.addEventListener('load', ready);
    ready();
    window.addEventListener('beforeunload', function (ev) {
      if (JSON.stringify(doc()) !== ui.savedJson) { ev.preventDefault(); ev.returnValue = ''; }
    });
    load();
    loadFonts();
  }

  // for tests and the curious: the document, the selection and the stack depths
  window.rcBuilder = {
    doc: function () { return JSON.parse(JSON.stringify(doc())); },
    state: function () {
      return { selected: ui.selected, selection: ui.sel.slice(), undo: ui.history.undoStack.length, redo: ui.history.redoStack.length,
        templateId: ui.templateId, scale: ui.scale, frameReady: ui.frameReady, dirty: JSON.stringify(doc()) !== ui.savedJson,
        guides: ui.guides.slice(), editMode: editMode(), uploads: ui.uploads };
    },
    save: save
  };

  start();
})();
