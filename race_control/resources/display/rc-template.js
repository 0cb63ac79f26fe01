/*
 * Race Control display page — templates.
 *
 * Holds: the built-in fallback templates, template normalisation (every value through the
 * validators in rc-util.js; unknown block types ignored), the active template for the current
 * mode and the portrait reflow of landscape templates on narrow screens.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var BLOCK_TYPES = RC.BLOCK_TYPES, GRID_MAX = RC.GRID_MAX, FINISHER_TYPES = RC.FINISHER_TYPES, FONT_STACKS = RC.FONT_STACKS,
    FORMAT = RC.FORMAT, isObj = RC.isObj, num = RC.num, oneOf = RC.oneOf, safeColor = RC.safeColor,
    safeFont = RC.safeFont, safeImage = RC.safeImage, str = RC.str, S = RC.S;

  // ---------------------------------------------------------------- built-in templates
  // Used when the server sends no template for the current mode (same content as
  // resources/display/templates/*-classic.json).
  var BUILTIN = {
    'results': {
      format: FORMAT, name: 'Results — classic', mode: 'results',
      canvas: { width: 1920, height: 1080 },
      theme: { background: '#070b16', foreground: '#ffffff', accent: '#ffd21f', font: 'display' },
      grid: { x: 56, y: 150, w: 1328, h: 874, columns: 2 },
      blocks: [
        { type: 'text', x: 56, y: 36, w: 1000, h: 84, text: '{event_name}',
          style: { size: 46, weight: 800, align: 'left', color: '#9fb4dc', transform: 'uppercase', spacing: 2 } },
        { type: 'clock', x: 1416, y: 30, w: 448, h: 96, label: 'RACE TIME',
          style: { size: 76, weight: 800, align: 'right', color: '#ffffff', font: 'mono' } },
        { type: 'bib', x: 56, y: 168, w: 340, h: 112, prefix: 'BIB ',
          style: { size: 64, weight: 900, align: 'center', color: '#070b16', background: '#ffd21f', radius: 18 } },
        { type: 'division', x: 420, y: 168, w: 520, h: 112,
          style: { size: 56, weight: 800, align: 'left', color: '#ffffff', background: '#1b2746', radius: 18 } },
        { type: 'place', x: 964, y: 168, w: 420, h: 112, prefix: 'PLACE ',
          style: { size: 56, weight: 800, align: 'center', color: '#ffffff', background: '#1b2746', radius: 18 } },
        { type: 'name', x: 56, y: 300, w: 1328, h: 230, lines: 2,
          style: { size: 168, weight: 900, align: 'left', color: '#ffffff', transform: 'uppercase' } },
        { type: 'city_state', x: 56, y: 536, w: 1328, h: 86,
          style: { size: 60, weight: 600, align: 'left', color: '#c6d2ec' } },
        { type: 'time', x: 56, y: 630, w: 1328, h: 200,
          style: { size: 188, weight: 900, align: 'left', color: '#ffd21f', font: 'mono' } },
        { type: 'message', x: 56, y: 850, w: 1328, h: 174, lines: 2,
          rotate: ['Welcome home!', 'What a finish!', 'You did it!', 'Strong finish — congratulations!'],
          style: { size: 62, weight: 700, align: 'left', color: '#ffffff', background: '#15203b', radius: 22, italic: true } },
        { type: 'leaderboard', x: 1416, y: 150, w: 448, h: 874, title: 'RECENT FINISHERS', rows: 8, source: 'auto',
          style: { size: 34, weight: 700, color: '#ffffff', background: '#0f1830', radius: 22 } }
      ]
    },
    'pre-race': {
      format: FORMAT, name: 'Pre-race — classic', mode: 'pre-race',
      canvas: { width: 1920, height: 1080 },
      theme: { background: '#070b16', foreground: '#ffffff', accent: '#ffd21f', font: 'display' },
      blocks: [
        { type: 'text', x: 120, y: 70, w: 1680, h: 130, text: '{event_name}',
          style: { size: 96, weight: 900, align: 'center', color: '#ffffff', transform: 'uppercase' } },
        { type: 'text', x: 120, y: 250, w: 1680, h: 80, text: 'STARTS IN',
          style: { size: 56, weight: 800, align: 'center', color: '#ffd21f', spacing: 12 } },
        { type: 'countdown', x: 120, y: 330, w: 1680, h: 330, target: 'auto',
          empty_text: 'Starting soon', done_text: "And they're off!",
          style: { size: 300, weight: 900, align: 'center', color: '#ffffff', font: 'mono' } },
        { type: 'slides', x: 160, y: 720, w: 1600, h: 290, interval_s: 7,
          items: [
            { title: 'Welcome to race day', text: 'Live results will appear on this screen as runners cross the finish line.' },
            { title: 'Runners', text: 'Please be in your start corral 10 minutes before the gun.' },
            { title: 'Thank you', text: 'To our volunteers, sponsors and everyone cheering at the finish.' }
          ],
          style: { size: 64, weight: 800, align: 'center', color: '#ffffff', background: '#111b34', radius: 28 } }
      ]
    }
  };

  // ---------------------------------------------------------------- templates

  function cleanRect(r, cw, ch) {
    if (!isObj(r)) return null;
    var x = num(r.x, -cw, cw * 2, NaN), y = num(r.y, -ch, ch * 2, NaN);
    var w = num(r.w, 1, cw * 2, NaN), h = num(r.h, 1, ch * 2, NaN);
    if (isNaN(x) || isNaN(y) || isNaN(w) || isNaN(h)) return null;
    return { x: x, y: y, w: w, h: h };
  }

  // The modes a block shows in: its `modes` list, or (none given) the template's own mode.
  var MODES = ['results', 'pre-race'];
  function blockModes(b, own) {
    if (Array.isArray(b.modes)) return b.modes.filter(function (m) { return MODES.indexOf(m) >= 0; });
    return own ? [own] : MODES;
  }

  // Does `t` lay out `mode`? Its own mode always; another only if a block lists it.
  function laysOut(t, mode) {
    if (!isObj(t) || !Array.isArray(t.blocks)) return false;
    var own = oneOf(t.mode, MODES, null);
    if (own === mode) return true;
    return t.blocks.some(function (b) { return isObj(b) && Array.isArray(b.modes) && b.modes.indexOf(mode) >= 0; });
  }

  // The burst (several finishers sharing the screen, docs/templates.md#builder): grid.max cards
  // at most per page (2-8), 'cards' (columns x rows) or 'list' (one row each), and a fixed
  // dwell (grid.dwell_s) instead of the adaptive one. Read even without a grid box.
  function cleanBurst(g) {
    g = isObj(g) ? g : {};
    return {
      max: Math.round(num(g.max, 2, GRID_MAX, GRID_MAX)),
      layout: oneOf(g.layout, ['cards', 'list'], 'cards'),
      dwell_ms: typeof g.dwell_s === 'number' ? num(g.dwell_s, 1, 60, 4) * 1000 : 0,
      columns: Math.round(num(g.columns, 1, 4, 2))
    };
  }

  // `forMode`: the mode drawn (blocks of other modes left out); none: the template's own.
  function cleanTemplate(t, forMode) {
    if (!isObj(t) || t.format !== FORMAT || !Array.isArray(t.blocks)) return null;
    var own = oneOf(t.mode, MODES, null);
    var drawn = forMode || own;
    var canvas = isObj(t.canvas) ? t.canvas : {};
    var cw = Math.round(num(canvas.width, 320, 7680, 1920));
    var ch = Math.round(num(canvas.height, 240, 7680, 1080));
    var theme = isObj(t.theme) ? t.theme : {};
    var out = {
      name: str(t.name, 200),
      mode: drawn,
      canvas: { width: cw, height: ch },
      theme: {
        background: safeColor(theme.background) || '#070b16',
        foreground: safeColor(theme.foreground) || '#ffffff',
        accent: safeColor(theme.accent) || '#ffd21f',
        font: safeFont(theme.font) || FONT_STACKS.display,
        background_image: safeImage(theme.background_image)
      },
      grid: null,
      burst: cleanBurst(t.grid),
      portrait: t.portrait !== false && t.portrait !== 'letterbox',
      idle_text: str(t.idle_text, 200),
      blocks: []
    };
    var g = cleanRect(t.grid, cw, ch);
    if (g) {
      g.columns = Math.round(num(t.grid.columns, 1, 4, 2));
      out.grid = g;
    }
    for (var i = 0; i < t.blocks.length && out.blocks.length < 200; i++) {
      var b = t.blocks[i];
      if (!isObj(b) || BLOCK_TYPES.indexOf(b.type) < 0) continue;   // unknown types are ignored
      if (drawn && blockModes(b, own).indexOf(drawn) < 0) continue;  // another mode's block
      var r = cleanRect(b, cw, ch);
      if (!r) continue;
      r.type = b.type;
      r.spec = b;                                   // raw options, read through validators only
      r.style = cleanStyle(isObj(b.style) ? b.style : {});
      out.blocks.push(r);
    }
    return out;
  }

  function cleanStyle(s) {
    var w = s.weight;
    if (w === 'bold') w = 700; else if (w === 'normal') w = 400;
    var out = {
      size: num(s.size, 6, 1200, 48),
      weight: typeof w === 'number' ? Math.round(num(w, 100, 900, 700) / 100) * 100 : 700,
      align: oneOf(s.align, ['left', 'center', 'right'], 'left'),
      color: safeColor(s.color),
      background: safeColor(s.background),
      radius: num(s.radius, 0, 200, 0),
      font: safeFont(s.font),
      transform: oneOf(s.transform, ['uppercase', 'lowercase', 'capitalize', 'none'], 'none'),
      italic: s.italic === true,
      spacing: num(s.spacing, -20, 100, 0),
      overflow: oneOf(s.overflow, ['auto', 'shrink', 'ellipsis', 'wrap'], 'auto'),  // rc-stage.js fit()
      lineHeight: typeof s.line_height === 'number' ? num(s.line_height, 0.8, 3, 0) : 0,   // 0: the page's 1.12
      border: cleanBorder(s.border),
      shadow: cleanShadow(s.shadow),
      opacity: num(s.opacity, 0, 1, 1)
    };
    if (s.case !== undefined) out.transform = CASES[oneOf(s.case, Object.keys(CASES), 'none')];
    return out;
  }

  // style.case names the letter case; the older style.transform (built-ins) is its CSS value
  var CASES = { none: 'none', upper: 'uppercase', lower: 'lowercase', title: 'capitalize' };
  var SHADOWS = { soft: { x: 0, y: 6, blur: 18, color: 'rgba(0,0,0,0.45)' },
    strong: { x: 0, y: 10, blur: 32, color: 'rgba(0,0,0,0.8)' } };

  function cleanBorder(v) {
    if (!isObj(v) || typeof v.width !== 'number') return null;
    var w = num(v.width, 0, 40, 0);
    return w ? { width: w, color: safeColor(v.color) } : null;   // color null: the theme's foreground
  }

  function cleanShadow(v) {
    if (typeof v === 'string') return Object.prototype.hasOwnProperty.call(SHADOWS, v) ? SHADOWS[v] : null;
    if (!isObj(v)) return null;
    return { x: num(v.x, -100, 100, 0), y: num(v.y, -100, 100, 0), blur: num(v.blur, 0, 200, 0),
      color: safeColor(v.color) || 'rgba(0,0,0,0.5)' };
  }

  // A template lays out its own mode and every other mode one of its blocks lists (`modes`);
  // a mode it does not lay out keeps what the page had from elsewhere, or its built-in.
  function putTemplate(raw, modeHint) {
    var own = isObj(raw) ? oneOf(raw.mode, MODES, null) : null;
    var mode = own || oneOf(modeHint, MODES, null) || S.mode || 'results';
    var t = cleanTemplate(raw, mode);
    if (!t) {
      if (raw !== undefined && raw !== null && window.console) console.warn('race-control: template ignored (not ' + FORMAT + ')');
      return false;
    }
    S.templates[mode] = t;
    MODES.forEach(function (other) {
      if (other === mode) return;
      if (own && laysOut(raw, other)) {
        var o = cleanTemplate(raw, other);
        o.derived = true;
        S.templates[other] = o;
      } else if (S.templates[other] && S.templates[other].derived) {
        delete S.templates[other];                 // the previous template's layout of it
      }
    });
    return true;
  }

  function activeTemplate() {
    return S.templates[S.mode] || cleanTemplate(BUILTIN[S.mode]) || cleanTemplate(BUILTIN.results);
  }

  // ---------------------------------------------------------------- portrait reflow
  // A landscape template letterboxed on a phone held upright shrinks every text to a third
  // of the screen height. On a portrait viewport the blocks are re-stacked instead: rows of
  // blocks (same height band) keep their order and share the full width, tall side panels
  // (leaderboard) go below and take the remaining height. Text is re-fitted to the new boxes.
  // A template can opt out with "portrait": false.
  var PORTRAIT_MAX_ASPECT = 0.8;      // viewport width / height below this -> portrait reflow
  var WRAP_AFTER = 1.35;              // a row up to 35% too wide is squeezed (boxes shrink their text); wider wraps

  function viewportAspect() {
    var vw = window.innerWidth || document.documentElement.clientWidth || 1920;
    var vh = window.innerHeight || document.documentElement.clientHeight || 1080;
    return vw / Math.max(1, vh);
  }

  function wantsPortrait(t) {
    return t.portrait && t.canvas.width > t.canvas.height && viewportAspect() < PORTRAIT_MAX_ASPECT;
  }

  function portraitOf(t) {
    var cw = t.canvas.width, ch = t.canvas.height;
    var W = 1080, M = 40, GAP = 24, A = W - 2 * M;
    var H = Math.round(Math.min(2400, Math.max(1350, W / viewportAspect())));
    var backgrounds = [], tail = [], flow = [];
    t.blocks.forEach(function (b) {
      // a race clock without a gun time shows nothing: no empty row for it (a `session`
      // message with gun_at rebuilds the view and brings it back)
      if (b.type === 'clock' && typeof S.session.gun_at !== 'number' && !str(b.spec.empty_text, 80)) return;
      if (b.w >= cw * 0.9 && b.h >= ch * 0.9) backgrounds.push(b);
      else if (b.h > ch * 0.5 && FINISHER_TYPES.indexOf(b.type) < 0) tail.push(b);
      else flow.push(b);
    });
    flow.sort(function (a, b) { return (a.y - b.y) || (a.x - b.x); });
    var rows = [];
    flow.forEach(function (b) {
      var row = rows.length ? rows[rows.length - 1] : null;
      if (row && Math.abs(b.y - row.y) < Math.min(b.h, row.minH) * 0.5) {
        row.items.push(b);
        row.minH = Math.min(row.minH, b.h);
        row.bottom = Math.max(row.bottom, b.y + b.h);
      } else {
        rows.push({ y: b.y, minH: b.h, bottom: b.y + b.h, items: [b] });
      }
    });
    // A row wider than the portrait width wraps (bib | division | place -> two rows) rather
    // than squeezing each box until its text needs an ellipsis.
    var wrapped = [];
    rows.forEach(function (row, i) {
      row.items.sort(function (a, b) { return a.x - b.x; });
      var gap = i ? Math.max(8, Math.min(40, row.y - rows[i - 1].bottom)) : 0;
      var cur = null, width = 0;
      row.items.forEach(function (b) {
        if (cur && width + GAP + b.w > A * WRAP_AFTER) { cur = null; gap = GAP; }
        if (!cur) {
          cur = { y: b.y, bottom: b.y + b.h, gap: gap, items: [] };
          wrapped.push(cur);
          width = -GAP;
        }
        cur.items.push(b);
        cur.y = Math.min(cur.y, b.y);
        cur.bottom = Math.max(cur.bottom, b.y + b.h);
        width += GAP + b.w;
      });
    });
    rows = wrapped;
    var content = 0;
    rows.forEach(function (row) {
      row.h = row.bottom - row.y;
      content += row.h + row.gap;
    });
    var room = H - 2 * M - (tail.length ? 360 + GAP : 0);
    var k = content > 0 ? Math.max(1, Math.min(tail.length ? 1.3 : 1.5, room / content)) : 1;
    var out = [];
    var copy = function (b, x, y, w, h, grow) {
      var c = { type: b.type, spec: b.spec, x: x, y: y, w: w, h: h, style: {} };
      Object.keys(b.style).forEach(function (key) { c.style[key] = b.style[key]; });
      c.style.size = b.style.size * grow;
      c.style.radius = b.style.radius * grow;
      return c;
    };
    backgrounds.forEach(function (b) { out.push(copy(b, 0, 0, W, H, 1)); });
    var y = M;
    if (!tail.length) y += Math.max(0, (H - 2 * M - content * k) / 2);     // centre a short stack
    rows.forEach(function (row) {
      y += row.gap * k;
      var total = GAP * (row.items.length - 1), minX = Infinity, maxX = -Infinity;
      row.items.forEach(function (b) { total += b.w; minX = Math.min(minX, b.x); maxX = Math.max(maxX, b.x + b.w); });
      var f = Math.min(1, A / total);
      var spare = A - total * f;
      var frac = maxX - minX < cw ? Math.min(1, Math.max(0, minX / Math.max(1, cw - (maxX - minX)))) : 0;
      var x = M + spare * frac;
      row.items.forEach(function (b) {
        var w = b.w * f;
        out.push(copy(b, x, y + (b.y - row.y) * k, w, b.h * k, k));
        x += w + GAP * f;
      });
      y += row.h * k;
    });
    if (tail.length) {
      y += GAP;
      var left = Math.max(360 * tail.length, H - M - y);
      H = Math.max(H, Math.round(y + left + M));
      var each = (left - GAP * (tail.length - 1)) / tail.length;
      tail.forEach(function (b) {
        var c = copy(b, M, y, A, each, 1);
        if (b.type === 'leaderboard') {
          var spec = {};
          Object.keys(b.spec).forEach(function (key) { spec[key] = b.spec[key]; });
          var fitRows = Math.max(1, Math.floor((each - b.style.size * 2.2) / (b.style.size * 2.7)));
          spec.rows = Math.min(num(b.spec.rows, 1, 30, 8), fitRows);
          c.spec = spec;
        }
        out.push(c);
        y += each + GAP;
      });
    }
    return {
      name: t.name, mode: t.mode, canvas: { width: W, height: H }, theme: t.theme,
      grid: null, burst: t.burst, portrait: true, portraitOf: t, idle_text: t.idle_text, blocks: out
    };
  }

  // ---------------------------------------------------------------- exports
  RC.activeTemplate = activeTemplate;
  RC.laysOut = laysOut;
  RC.portraitOf = portraitOf;
  RC.putTemplate = putTemplate;
  RC.wantsPortrait = wantsPortrait;
})();
