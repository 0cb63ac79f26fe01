/*
 * Race Control template builder — arranging a selection: groups, align, distribute, scaling a
 * selection's box, and the blocks a copy carries. Pure functions on the document (`doc`) and
 * a selection (a sorted list of block indices); builder.js runs each as one command.
 *
 * A group is the blocks that share a `group` id (schema v2, optional; the page ignores it):
 * selecting one member selects them all, and they move, resize and lock together. Align and
 * distribute move "units": a whole group is one unit, any other block is its own.
 */
(function () {
  'use strict';

  var B = window.RCB;
  var MAX_BLOCKS = 100;
  var GROUP_RE = /^[A-Za-z0-9_-]{1,40}$/;

  function sorted(list) {
    var out = [];
    list.forEach(function (i) { if (out.indexOf(i) < 0) out.push(i); });
    return out.sort(function (a, b) { return a - b; });
  }

  // Every index of the selection with the rest of each group it touches.
  function withGroups(doc, indices) {
    var groups = {}, out = indices.slice();
    indices.forEach(function (i) { var g = doc.blocks[i] && doc.blocks[i].group; if (g) groups[g] = true; });
    doc.blocks.forEach(function (b, i) { if (b.group && groups[b.group]) out.push(i); });
    return sorted(out.filter(function (i) { return i >= 0 && i < doc.blocks.length; }));
  }

  function bbox(doc, indices) {
    if (!indices.length) return null;
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    indices.forEach(function (i) {
      var b = doc.blocks[i];
      x1 = Math.min(x1, b.x); y1 = Math.min(y1, b.y);
      x2 = Math.max(x2, b.x + b.w); y2 = Math.max(y2, b.y + b.h);
    });
    return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
  }

  // The units of a selection: [{indices, x, y, w, h, locked}], in document order.
  function units(doc, sel) {
    var seen = {}, out = [];
    sel.forEach(function (i) {
      var b = doc.blocks[i], g = b.group;
      if (g && seen[g]) return;
      var members = g ? sel.filter(function (j) { return doc.blocks[j].group === g; }) : [i];
      if (g) seen[g] = true;
      var r = bbox(doc, members);
      r.indices = members;
      r.locked = members.some(function (j) { return doc.blocks[j].locked; });
      out.push(r);
    });
    return out;
  }

  function shift(doc, unit, dx, dy) {
    unit.indices.forEach(function (i) {
      doc.blocks[i].x = Math.round(doc.blocks[i].x + dx);
      doc.blocks[i].y = Math.round(doc.blocks[i].y + dy);
    });
  }

  // Align the selection's units on one edge or centre of their bounding box ('left', 'center',
  // 'right', 'top', 'middle', 'bottom'); one unit alone aligns on the canvas. Locked units stay.
  function align(doc, sel, how) {
    var us = units(doc, sel);
    if (!us.length) return;
    var box = us.length === 1 ? { x: 0, y: 0, w: doc.canvas.width, h: doc.canvas.height } : bbox(doc, sel);
    us.forEach(function (u) {
      if (u.locked) return;
      var dx = 0, dy = 0;
      if (how === 'left') dx = box.x - u.x;
      else if (how === 'center') dx = box.x + box.w / 2 - (u.x + u.w / 2);
      else if (how === 'right') dx = box.x + box.w - (u.x + u.w);
      else if (how === 'top') dy = box.y - u.y;
      else if (how === 'middle') dy = box.y + box.h / 2 - (u.y + u.h / 2);
      else if (how === 'bottom') dy = box.y + box.h - (u.y + u.h);
      else throw new Error('unknown alignment ' + how);
      shift(doc, u, dx, dy);
    });
  }

  // Equal gaps between the units along 'x' or 'y' (at least 3); the first and last stay put.
  function distribute(doc, sel, axis) {
    var us = units(doc, sel);
    if (us.length < 3) return;
    var pos = axis === 'x' ? 'x' : 'y', size = axis === 'x' ? 'w' : 'h';
    us.sort(function (a, b) { return (a[pos] - b[pos]) || (a.indices[0] - b.indices[0]); });
    var first = us[0], last = us[us.length - 1];
    var total = 0;
    us.forEach(function (u) { total += u[size]; });
    var gap = (last[pos] + last[size] - first[pos] - total) / (us.length - 1);
    var at = first[pos] + first[size] + gap;
    for (var k = 1; k < us.length - 1; k++) {
      var u = us[k], d = at - u[pos];
      if (!u.locked) shift(doc, u, pos === 'x' ? d : 0, pos === 'y' ? d : 0);
      at += u[size] + gap;
    }
  }

  function usedGroups(doc) {
    var used = {};
    doc.blocks.forEach(function (b) { if (b.group) used[b.group] = true; });
    return used;
  }

  function freshGroup(used) {
    for (var n = 1; ; n++) {
      if (!used['g' + n]) { used['g' + n] = true; return 'g' + n; }
    }
  }

  // One new group of every selected block (at least two); returns its id.
  function group(doc, sel) {
    if (sel.length < 2) return null;
    var id = freshGroup(usedGroups(doc));
    sel.forEach(function (i) { doc.blocks[i].group = id; });
    return id;
  }

  function ungroup(doc, sel) {
    sel.forEach(function (i) { delete doc.blocks[i].group; });
  }

  // Scale the selection from its box `from` to the box `to` (a group resized as one);
  // `rects[i]` is block i's rect when the resize began.
  function scaleTo(doc, sel, from, to, rects) {
    var sx = to.w / Math.max(1, from.w), sy = to.h / Math.max(1, from.h);
    sel.forEach(function (i) {
      var b = doc.blocks[i], r = rects[i];
      var x1 = to.x + (r.x - from.x) * sx, y1 = to.y + (r.y - from.y) * sy;
      var x2 = to.x + (r.x + r.w - from.x) * sx, y2 = to.y + (r.y + r.h - from.y) * sy;
      b.x = Math.round(x1); b.y = Math.round(y1);
      b.w = Math.max(1, Math.round(x2) - b.x); b.h = Math.max(1, Math.round(y2) - b.y);
    });
  }

  // ---------------------------------------------------------------- copy / paste
  var CLIP_FORMAT = 'race-control/blocks@1';

  function copyOf(doc, sel) {
    return { format: CLIP_FORMAT, blocks: sel.map(function (i) { return JSON.parse(JSON.stringify(doc.blocks[i])); }) };
  }

  function isBlock(b) {
    var known = B.PALETTE.some(function (p) { return p[0] === b.type; });
    return b && typeof b === 'object' && !Array.isArray(b) && known &&
      ['x', 'y', 'w', 'h'].every(function (k) { return typeof b[k] === 'number' && isFinite(b[k]); });
  }

  // The blocks a clipboard text carries (our own format only), or null.
  function readClip(text) {
    var data;
    try { data = JSON.parse(text); } catch (e) { return null; }
    if (!data || data.format !== CLIP_FORMAT || !Array.isArray(data.blocks)) return null;
    var blocks = data.blocks.filter(isBlock);
    return blocks.length ? blocks : null;
  }

  // Append copies of `blocks`, moved by `offset` and with fresh group ids (a pasted group is
  // a new group); returns the new indices (none when the template would pass 100 blocks).
  function paste(doc, blocks, offset) {
    if (!blocks.length || doc.blocks.length + blocks.length > MAX_BLOCKS) return [];
    var used = usedGroups(doc), renamed = {}, out = [];
    blocks.forEach(function (src) {
      var b = JSON.parse(JSON.stringify(src));
      b.x = Math.round(b.x + offset); b.y = Math.round(b.y + offset);
      delete b.locked;
      if (typeof b.group === 'string' && GROUP_RE.test(b.group)) {
        if (!renamed[b.group]) renamed[b.group] = freshGroup(used);
        b.group = renamed[b.group];
      } else delete b.group;
      doc.blocks.push(b);
      out.push(doc.blocks.length - 1);
    });
    return out;
  }

  B.MAX_BLOCKS = MAX_BLOCKS;
  B.align = align;
  B.bbox = bbox;
  B.copyOf = copyOf;
  B.distribute = distribute;
  B.group = group;
  B.paste = paste;
  B.readClip = readClip;
  B.scaleTo = scaleTo;
  B.ungroup = ungroup;
  B.units = units;
  B.withGroups = withGroups;
})();
