/*
 * Race Control template builder (served at /builder?template=<id>; docs/templates.md#builder).
 *
 * The canvas is a frame (/builder/canvas) running the display page's own scripts: what it
 * shows is what a screen shows. Over it lies an overlay of boxes (one per block) that take
 * the mouse: select, drag, resize by handles, with snapping and guides. Every change is a
 * command on the stack in builder-commands.js (Ctrl+Z / Ctrl+Shift+Z). Save writes a new
 * version through /builder/api/templates (the same operation as PUT /api/templates).
 * Text only ever goes in through textContent and input values.
 */
(function () {
  'use strict';

  var B = window.RCB;
  var $ = function (id) { return document.getElementById(id); };
  var SNAP_PX = 8;            // screen pixels within which an edge snaps to another's
  var HANDLES = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

  var SAMPLES = {
    long: [{ bib: '1042', first_name: 'Maximiliana', last_name: 'Featherstonehaugh-Worthington-Smythe', city: 'Rancho Santa Margarita', state: 'CA', time: '3:27:41', division: 'F40-44', place: 118, message: 'Go Mom! We are so proud of you — see you at the finish line with ice cream!' }],
    accents: [{ bib: '77', first_name: 'José Ñúñez', last_name: 'Sørensen-Łukasiewicz', city: 'São Paulo', country: 'BR', time: '41:09', division: 'M30-34', place: 3 }],
    rtl: [{ bib: '5150', first_name: 'مريم', last_name: 'الحسيني', city: 'دبي', country: 'AE', time: '52:33', division: 'F25-29', place: 12, message: 'أحسنتِ! فخورون بك' }],
    unknown: [{ bib: '9999', known: false, time: '1:02:17' }],
    message: [{ bib: '301', first_name: 'Sam', last_name: 'Lee', city: 'Portland', state: 'OR', time: '48:55', division: 'M18-24', place: 27, message: 'Happy birthday Sam! 30 years, 10 kilometres, one legend.' }],
    bunch: [
      { bib: '11', first_name: 'Ana', last_name: 'Silva', city: 'Lisbon', country: 'PT', time: '38:01' },
      { bib: '12', first_name: 'Bjørn', last_name: 'Dæhlie', city: 'Oslo', country: 'NO', time: '38:01' },
      { bib: '13', first_name: 'Chen', last_name: 'Wei', city: 'Shanghai', country: 'CN', time: '38:02' },
      { bib: '14', first_name: 'Dmitri', last_name: 'Volkov-Alexandrovich', city: 'Saint Petersburg', country: 'RU', time: '38:02' },
      { bib: '15', first_name: 'נועה', last_name: 'כהן', city: 'חיפה', country: 'IL', time: '38:03' },
      { bib: '16', known: false, time: '38:03' },
      { bib: '17', first_name: 'Émilie', last_name: 'Lefèvre', city: 'Québec', country: 'CA', time: '38:04' },
      { bib: '18', first_name: 'Grace', last_name: 'Okafor', city: 'Lagos', country: 'NG', time: '38:04' }
    ],
    none: []
  };
  SAMPLES.unknown[0].name = '';

  var params = new URLSearchParams(window.location.search);
  var ui = {
    history: new B.History(blankTemplate()),
    templateId: params.get('template') || '',
    builtin: false,
    selected: -1,
    scale: 1,
    frameReady: false,
    guides: [],
    drag: null,
    savedJson: ''
  };

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
      var list = SAMPLES[kind] || [];
      var now = Date.now();
      f.rcBuilderCanvas.show(doc(), list, kind === 'bunch' ? 'grid' : 'single',
        { event_name: 'Riverside 10K', name: 'Finish line', gun_at: now - 2843000, starts_at: now + 754000 });
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

  function drawOverlay() {
    var ov = $('overlay'), d = doc(), inv = 1 / ui.scale;
    ov.textContent = '';
    d.blocks.forEach(function (b, i) {
      var box = el('div', 'box' + (i === ui.selected ? ' selected' : '') + (b.locked ? ' locked' : ''));
      box.dataset.index = String(i);
      box.style.left = b.x + 'px'; box.style.top = b.y + 'px';
      box.style.width = b.w + 'px'; box.style.height = b.h + 'px';
      box.style.outlineWidth = (i === ui.selected ? 2 : 1) * inv + 'px';
      if (i === ui.selected) {
        var tag = el('span', 'tag', label(b.type) + (b.locked ? ' (locked)' : ''));
        tag.style.transform = 'scale(' + inv + ')';
        box.appendChild(tag);
        if (!b.locked) {
          HANDLES.forEach(function (h) {
            var hd = el('div', 'handle');
            hd.dataset.h = h;
            var s = 12 * inv;
            hd.style.width = hd.style.height = s + 'px';
            hd.style.borderWidth = 2 * inv + 'px';
            hd.style.left = (h.indexOf('w') >= 0 ? -s / 2 : h.indexOf('e') >= 0 ? b.w - s / 2 : b.w / 2 - s / 2) + 'px';
            hd.style.top = (h.indexOf('n') >= 0 ? -s / 2 : h.indexOf('s') >= 0 ? b.h - s / 2 : b.h / 2 - s / 2) + 'px';
            box.appendChild(hd);
          });
        }
      }
      ov.appendChild(box);
    });
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
    return { edges: on, grid: on ? Number($('grid-size').value) : 1, threshold: SNAP_PX / ui.scale, min: 8 };
  }

  function onPointerDown(ev) {
    if (ev.button !== 0) return;
    var target = ev.target;
    var handle = target.classList.contains('handle') ? target.dataset.h : null;
    var box = handle ? target.parentNode : (target.classList.contains('box') ? target : null);
    if (!box) { select(-1); return; }
    var i = Number(box.dataset.index);
    if (i !== ui.selected) select(i);
    var b = doc().blocks[i];
    if (b.locked) return;
    ev.preventDefault();
    var p = toCanvas(ev);
    ui.drag = { index: i, handle: handle, start: p, rect: { x: b.x, y: b.y, w: b.w, h: b.h }, before: JSON.stringify(doc()), moved: false };
    $('overlay').setPointerCapture(ev.pointerId);
  }

  function onPointerMove(ev) {
    var dr = ui.drag;
    if (!dr) return;
    var p = toCanvas(ev), dx = p.x - dr.start.x, dy = p.y - dr.start.y;
    if (!dr.moved && Math.abs(dx) * ui.scale < 2 && Math.abs(dy) * ui.scale < 2) return;
    dr.moved = true;
    var b = doc().blocks[dr.index], r = dr.rect, out;
    if (!dr.handle) {
      out = B.snapMove(doc(), dr.index, { x: r.x + dx, y: r.y + dy, w: r.w, h: r.h }, snapOpts(ev));
      b.x = out.x; b.y = out.y;
    } else {
      var h = dr.handle, n = { x: r.x, y: r.y, w: r.w, h: r.h };
      if (h.indexOf('w') >= 0) { n.x = r.x + dx; n.w = r.w - dx; }
      if (h.indexOf('e') >= 0) n.w = r.w + dx;
      if (h.indexOf('n') >= 0) { n.y = r.y + dy; n.h = r.h - dy; }
      if (h.indexOf('s') >= 0) n.h = r.h + dy;
      out = B.snapResize(doc(), dr.index, n, h, snapOpts(ev));
      b.x = out.x; b.y = out.y; b.w = out.w; b.h = out.h;
    }
    ui.guides = out.guides;
    drawOverlay();
    renderCanvas();
    drawPanel(true);
  }

  function onPointerUp() {
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

  function select(i) {
    ui.selected = i;
    drawOverlay();
    drawPanel(false);
  }

  function addBlock(type) {
    var d = doc();
    var b = B.newBlock(type, d.canvas, d.canvas.width / 2, d.canvas.height / 2);
    if (d.blocks.length >= 100) { status('A template holds at most 100 blocks', true); return; }
    run('add ' + type, function (x) { x.blocks.push(b); });
    select(doc().blocks.length - 1);
  }

  function current() { return ui.selected >= 0 ? doc().blocks[ui.selected] : null; }

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

  function nudge(dx, dy) {
    var i = ui.selected, b = current();
    if (!b || b.locked) return;
    run('nudge', function (d) { d.blocks[i].x = Math.round(b.x + dx); d.blocks[i].y = Math.round(b.y + dy); });
  }

  function removeSelected() {
    var i = ui.selected, b = current();
    if (!b || b.locked) return;
    ui.selected = -1;
    run('delete', function (d) { d.blocks.splice(i, 1); });
  }

  function duplicateSelected() {
    var i = ui.selected, b = current();
    if (!b || doc().blocks.length >= 100) return;
    var copy = JSON.parse(JSON.stringify(b));
    copy.x += 20; copy.y += 20;
    delete copy.locked;
    run('duplicate', function (d) { d.blocks.splice(i + 1, 0, copy); });
    select(i + 1);
  }

  function reorder(toFront) {
    var i = ui.selected, n = doc().blocks.length;
    if (i < 0 || (toFront && i === n - 1) || (!toFront && i === 0)) return;
    var j = toFront ? n - 1 : 0;
    run(toFront ? 'bring to front' : 'send to back', function (d) {
      var b = d.blocks.splice(i, 1)[0];
      d.blocks.splice(j, 0, b);
    });
    select(j);
  }

  function undo() { if (ui.history.undo()) { clampSelection(); refresh(); } }
  function redo() { if (ui.history.redo()) { clampSelection(); refresh(); } }
  function clampSelection() { if (ui.selected >= doc().blocks.length) ui.selected = -1; }

  function refresh() {
    var d = doc();
    $('tpl-name').value = d.name;
    $('tpl-mode').value = d.mode;
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
    leaderboard: [['title', 'Title']], image: [['alt', 'Alt text']]
  };
  var LINES_TYPES = ['name', 'message', 'text'];

  function drawPanel(rectOnly) {
    var p = $('panel'), b = current(), i = ui.selected;
    if (rectOnly && b) {
      ['x', 'y', 'w', 'h'].forEach(function (k) {
        var input = p.querySelector('input[name="' + k + '"]');
        if (input) input.value = String(b[k]);
      });
      return;
    }
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
      p.appendChild(el('p', 'hint', 'Click a block to select it. Drag to move, drag a handle to resize (Alt: no snapping). ' +
        'Arrows nudge 1 px, Shift+arrows 10 px; Delete removes, Ctrl+D duplicates, Ctrl+Z / Ctrl+Shift+Z undo and redo.'));
      return;
    }
    var st = b.style || {};
    p.appendChild(el('h2', '', label(b.type) + ' block'));
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
      var file = el('input');
      file.type = 'file';
      file.accept = 'image/png,image/jpeg,image/gif,image/webp';
      file.addEventListener('change', function () {
        var f = file.files && file.files[0];
        if (!f) return;
        var reader = new FileReader();
        reader.onload = function () { setField(['src'], String(reader.result)); };
        reader.readAsDataURL(f);
      });
      row(p, 'Image file', file);
    }
    if (LINES_TYPES.indexOf(b.type) >= 0) {
      // overflow is the page's own rule: shrink the font, then wrap to `lines`, then an ellipsis
      row(p, 'Lines (wrap)', numberInput(b.lines, function (v) { setField(['lines'], v === null ? null : Math.max(1, Math.min(4, Math.round(v)))); }, 'lines'));
    }
    if (b.type !== 'image') {
      p.appendChild(el('h2', '', 'Style'));
      row(p, 'Font size', numberInput(st.size, function (v) { setField(['style', 'size'], v); }, 'style.size'));
      row(p, 'Weight', selectInput(String(st.weight || 700), [['400', 'Regular'], ['600', 'Semibold'], ['700', 'Bold'], ['800', 'Extra bold'], ['900', 'Black']],
        function (v) { setField(['style', 'weight'], Number(v)); }, 'style.weight'));
      row(p, 'Colour', colorInput(st.color, function (v) { setField(['style', 'color'], v); }, 'style.color'));
      row(p, 'Background', colorInput(st.background, function (v) { setField(['style', 'background'], v); }, 'style.background'));
      row(p, 'Align', selectInput(st.align || 'left', [['left', 'Left'], ['center', 'Centre'], ['right', 'Right']],
        function (v) { setField(['style', 'align'], v); }, 'style.align'));
    }
    var actions = el('div', 'actions');
    [['Front', function () { reorder(true); }], ['Back', function () { reorder(false); }],
      [b.locked ? 'Unlock' : 'Lock', function () { setField(['locked'], b.locked ? null : true); }],
      ['Duplicate', duplicateSelected], ['Delete', removeSelected]].forEach(function (a) {
      var btn = el('button', '', a[0]);
      btn.name = a[0].toLowerCase();
      btn.addEventListener('click', a[1]);
      actions.appendChild(btn);
    });
    p.appendChild(actions);
    if (i >= 0) p.appendChild(el('p', 'hint', 'Layer ' + (i + 1) + ' of ' + doc().blocks.length +
      '. Finisher blocks (name, bib, time…) are drawn above the other blocks on a screen.'));
  }

  // ---------------------------------------------------------------- keyboard
  function onKey(ev) {
    var tag = (ev.target && ev.target.tagName) || '';
    var typing = tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
    var mod = ev.ctrlKey || ev.metaKey;
    var key = ev.key;
    if (mod && (key === 'z' || key === 'Z')) { if (typing) return; ev.preventDefault(); if (ev.shiftKey) redo(); else undo(); return; }
    if (mod && (key === 'y' || key === 'Y')) { if (typing) return; ev.preventDefault(); redo(); return; }
    if (typing) return;
    if (mod && (key === 'd' || key === 'D')) { ev.preventDefault(); duplicateSelected(); return; }
    if (mod && (key === 's' || key === 'S')) { ev.preventDefault(); save(); return; }
    var step = ev.shiftKey ? 10 : 1;
    if (key === 'ArrowLeft') { ev.preventDefault(); nudge(-step, 0); }
    else if (key === 'ArrowRight') { ev.preventDefault(); nudge(step, 0); }
    else if (key === 'ArrowUp') { ev.preventDefault(); nudge(0, -step); }
    else if (key === 'ArrowDown') { ev.preventDefault(); nudge(0, step); }
    else if (key === 'Delete' || key === 'Backspace') { ev.preventDefault(); removeSelected(); }
    else if (key === 'Escape') select(-1);
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
      run('mode', function (d) { d.mode = v; });
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
  }

  // for tests and the curious: the document, the selection and the stack depths
  window.rcBuilder = {
    doc: function () { return JSON.parse(JSON.stringify(doc())); },
    state: function () {
      return { selected: ui.selected, undo: ui.history.undoStack.length, redo: ui.history.redoStack.length,
        templateId: ui.templateId, scale: ui.scale, frameReady: ui.frameReady, dirty: JSON.stringify(doc()) !== ui.savedJson,
        guides: ui.guides.slice() };
    },
    save: save
  };

  start();
})();
