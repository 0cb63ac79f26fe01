/*
 * Race Control template builder — the document model: the undo/redo command stack, block
 * defaults for the palette and snapping (grid, canvas and other blocks' edges).
 *
 * Every change to the template is one command recorded as the document's JSON before and
 * after it, so undo and redo restore exactly the JSON that was there (no lost state, no drift
 * from replaying edits). A drag or a resize is one command, recorded when the mouse is let go.
 */
(function () {
  'use strict';

  var B = window.RCB = window.RCB || {};
  var MAX_STEPS = 300;

  // ---------------------------------------------------------------- command stack
  function History(doc) {
    this.doc = doc;
    this.undoStack = [];
    this.redoStack = [];
  }

  // Run mutate(doc) as one command; nothing is recorded if it changed nothing.
  History.prototype.run = function (label, mutate) {
    var before = JSON.stringify(this.doc);
    mutate(this.doc);
    return this.record(label, before);
  };

  // Record the change from `before` (JSON) to the document now (a drag ends).
  History.prototype.record = function (label, before) {
    var after = JSON.stringify(this.doc);
    if (after === before) return false;
    this.undoStack.push({ label: label, before: before, after: after });
    if (this.undoStack.length > MAX_STEPS) this.undoStack.shift();
    this.redoStack = [];
    return true;
  };

  History.prototype.undo = function () {
    var c = this.undoStack.pop();
    if (!c) return null;
    this.redoStack.push(c);
    this.doc = JSON.parse(c.before);
    return c;
  };

  History.prototype.redo = function () {
    var c = this.redoStack.pop();
    if (!c) return null;
    this.undoStack.push(c);
    this.doc = JSON.parse(c.after);
    return c;
  };

  // ---------------------------------------------------------------- palette defaults
  var PALETTE = [
    ['name', 'Name', { w: 1200, h: 200, lines: 2, style: { size: 140, weight: 900, transform: 'uppercase' } }],
    ['bib', 'Bib', { w: 340, h: 112, prefix: 'BIB ', style: { size: 64, weight: 900, align: 'center', color: '#070b16', background: '#ffd21f', radius: 18 } }],
    ['time', 'Time', { w: 900, h: 180, style: { size: 160, weight: 900, color: '#ffd21f', font: 'mono' } }],
    ['city_state', 'City / state', { w: 1000, h: 86, style: { size: 60, weight: 600, color: '#c6d2ec' } }],
    ['message', 'Message', { w: 1200, h: 170, lines: 2, style: { size: 60, weight: 700, background: '#15203b', radius: 22 } }],
    ['division', 'Division', { w: 520, h: 112, style: { size: 56, weight: 800, background: '#1b2746', radius: 18 } }],
    ['team', 'Team', { w: 700, h: 100, empty_text: '', style: { size: 56, weight: 700, color: '#c6d2ec' } }],
    ['place', 'Place', { w: 420, h: 112, prefix: 'PLACE ', style: { size: 56, weight: 800, align: 'center', background: '#1b2746', radius: 18 } }],
    ['clock', 'Race clock', { w: 448, h: 96, label: 'RACE TIME', style: { size: 76, weight: 800, align: 'right', font: 'mono' } }],
    ['countdown', 'Countdown', { w: 1200, h: 260, target: 'auto', empty_text: 'Starting soon', style: { size: 200, weight: 900, align: 'center', font: 'mono' } }],
    ['leaderboard', 'Leaderboard', { w: 448, h: 700, title: 'RECENT FINISHERS', rows: 8, source: 'auto', style: { size: 34, weight: 700, background: '#0f1830', radius: 22 } }],
    ['recent', 'Recent finishers', { w: 900, h: 420, title: 'JUST FINISHED', rows: 5, style: { size: 40, weight: 700, background: '#0f1830', radius: 22 } }],
    ['qr', 'QR code', { w: 300, h: 300, alt: 'Scan to open this screen', style: { background: '#ffffff', radius: 12 } }],
    ['text', 'Text', { w: 800, h: 100, text: 'Your text', style: { size: 64, weight: 800 } }],
    ['image', 'Image', { w: 400, h: 200, src: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==', fit: 'contain', alt: '' }],
    ['slides', 'Slides', { w: 1200, h: 290, interval_s: 7, items: [{ title: 'Welcome', text: 'Live results appear here as runners finish.' }], style: { size: 64, weight: 800, align: 'center', background: '#111b34', radius: 28 } }]
  ];

  // A new block of `type`, centred on (cx, cy), no larger than the canvas.
  function newBlock(type, canvas, cx, cy) {
    var entry = null;
    PALETTE.forEach(function (p) { if (p[0] === type) entry = p; });
    if (!entry) throw new Error('unknown block type ' + type);
    var b = JSON.parse(JSON.stringify(entry[2]));
    var k = Math.min(1, canvas.width / 1920, canvas.height / 1080);
    if (k < 1) {                      // a small canvas (an LED board): a block in proportion
      b.w = Math.round(b.w * k); b.h = Math.round(b.h * k);
      if (b.style) b.style.size = Math.max(8, Math.round(b.style.size * k));
    }
    b.w = Math.min(b.w, canvas.width); b.h = Math.min(b.h, canvas.height);
    var out = { type: type, x: 0, y: 0, w: b.w, h: b.h };
    Object.keys(b).forEach(function (key) { if (!(key in out)) out[key] = b[key]; });
    out.x = Math.round(Math.max(0, Math.min(canvas.width - b.w, cx - b.w / 2)));
    out.y = Math.round(Math.max(0, Math.min(canvas.height - b.h, cy - b.h / 2)));
    return out;
  }

  // ---------------------------------------------------------------- snapping
  // Lines a moving edge may snap to: the canvas edges and centre, every other block's edges
  // and centre. A block snap within `threshold` canvas pixels wins over the grid.
  // `skip`: the index, or the indices, of the blocks that move (they do not snap to themselves);
  // `shown(i)`: whether block i is in the layout being edited (another layout's are not snapped to).
  function lines(doc, skip, shown) {
    var xs = [0, doc.canvas.width / 2, doc.canvas.width], ys = [0, doc.canvas.height / 2, doc.canvas.height];
    var skipped = typeof skip === 'number' ? [skip] : (skip || []);
    doc.blocks.forEach(function (b, i) {
      if (skipped.indexOf(i) >= 0 || (shown && !shown(i))) return;
      xs.push(b.x, b.x + b.w / 2, b.x + b.w);
      ys.push(b.y, b.y + b.h / 2, b.y + b.h);
    });
    return { x: xs, y: ys };
  }

  // The best offset for any of `edges` onto any of `targets` (within threshold), or null.
  function nearest(edges, targets, threshold) {
    var best = null;
    edges.forEach(function (e) {
      targets.forEach(function (t) {
        var d = t - e;
        if (Math.abs(d) <= threshold && (best === null || Math.abs(d) < Math.abs(best.d))) best = { d: d, at: t };
      });
    });
    return best;
  }

  function gridSnap(v, grid) { return grid > 1 ? Math.round(v / grid) * grid : Math.round(v); }

  // Snap a moved rect r (of block `index`, or the bounding box of the blocks `index` lists):
  // returns {x, y, guides: [{axis, at}]}.
  function snapMove(doc, index, r, opts) {
    var L = lines(doc, index, opts.shown), guides = [];
    var x = r.x, y = r.y;
    var sx = opts.edges ? nearest([r.x, r.x + r.w / 2, r.x + r.w], L.x, opts.threshold) : null;
    if (sx) { x = r.x + sx.d; guides.push({ axis: 'x', at: sx.at }); } else x = gridSnap(r.x, opts.grid);
    var sy = opts.edges ? nearest([r.y, r.y + r.h / 2, r.y + r.h], L.y, opts.threshold) : null;
    if (sy) { y = r.y + sy.d; guides.push({ axis: 'y', at: sy.at }); } else y = gridSnap(r.y, opts.grid);
    return { x: Math.round(x), y: Math.round(y), guides: guides };
  }

  // Snap the moving edges of a resized rect (`handle` like 'nw', 'e', 'se').
  function snapResize(doc, index, r, handle, opts) {
    var L = lines(doc, index, opts.shown), guides = [];
    var left = r.x, top = r.y, right = r.x + r.w, bottom = r.y + r.h;
    function one(v, targets, axis) {
      var s = opts.edges ? nearest([v], targets, opts.threshold) : null;
      if (s) { guides.push({ axis: axis, at: s.at }); return s.at; }
      return gridSnap(v, opts.grid);
    }
    if (handle.indexOf('w') >= 0) left = one(left, L.x, 'x');
    if (handle.indexOf('e') >= 0) right = one(right, L.x, 'x');
    if (handle.indexOf('n') >= 0) top = one(top, L.y, 'y');
    if (handle.indexOf('s') >= 0) bottom = one(bottom, L.y, 'y');
    var min = opts.min || 8;
    if (right - left < min) { if (handle.indexOf('w') >= 0) left = right - min; else right = left + min; }
    if (bottom - top < min) { if (handle.indexOf('n') >= 0) top = bottom - min; else bottom = top + min; }
    return { x: Math.round(left), y: Math.round(top), w: Math.round(right - left), h: Math.round(bottom - top), guides: guides };
  }

  // Scale every rect (and font size) to a new canvas size: one command in the builder.
  function resizeCanvas(doc, width, height) {
    var sx = width / doc.canvas.width, sy = height / doc.canvas.height, sf = Math.min(sx, sy);
    function rect(b) {
      b.x = Math.round(b.x * sx); b.y = Math.round(b.y * sy);
      b.w = Math.max(1, Math.round(b.w * sx)); b.h = Math.max(1, Math.round(b.h * sy));
    }
    doc.blocks.forEach(function (b) {
      rect(b);
      if (b.style && typeof b.style.size === 'number') b.style.size = Math.max(6, Math.round(b.style.size * sf));
    });
    if (doc.grid && typeof doc.grid.x === 'number') rect(doc.grid);
    doc.canvas = { width: width, height: height };
  }

  B.History = History;
  B.PALETTE = PALETTE;
  B.newBlock = newBlock;
  B.resizeCanvas = resizeCanvas;
  B.snapMove = snapMove;
  B.snapResize = snapResize;
})();
