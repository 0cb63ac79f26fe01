/*
 * Race Control display page (served at GET /display/{token}).
 *
 * Why it looks like this:
 *  - Plain ES2015 without a build step, so it runs offline on old smart-TV browsers
 *    (no optional chaining, no class fields, no modules).
 *  - Escaped by construction (ARCHITECTURE rule 10): every piece of participant or template
 *    data reaches the DOM through `textContent`, validated CSSOM properties or a validated
 *    `img.src`. There is no innerHTML / insertAdjacentHTML / setAttribute('style') anywhere.
 *  - A screen never drops a finisher: finishers are queued, the dwell time shrinks as the queue
 *    grows and a multi-up grid drains bunches. The server's `seq` is the only identity: anything
 *    at or below the last seq received is a duplicate (resume replays overlap by design).
 *  - A screen never freezes silently: a message watchdog (3 x heartbeat, capped so it stays well
 *    under 10 s) flips <body data-connection> to "stale" and shows a banner, then reconnects
 *    with exponential backoff + jitter and resumes after the last seq.
 *
 * Protocol and template format: docs/display-protocol.md.
 */
(function () {
  'use strict';

  var FORMAT = 'race-control/template@1';
  var VERSION = '1';
  var MAX_TEXT = 500;            // longest string kept from the wire (DOM stays small)
  var GRID_MIN_WAITING = 4;      // >= this many waiting -> multi-up grid
  var GRID_MAX = 8;              // cards per grid page
  var CALM_DWELL_MS = 4000;      // single card, nobody waiting
  var MIN_DWELL_MS = 1200;       // single card, queue building up
  var STALE_CAP_MS = 8000;       // never wait longer than this for a message before going stale
  var CLOSE_GRACE_MS = 1500;     // socket closed: how long a quick reconnect may hide the banner
  var OPEN_TIMEOUT_MS = 5000;    // a socket stuck in CONNECTING is abandoned after this
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 5000;
  var CLOSED_CODE = 4410;        // WebSocket close code: the display session was closed (page answers 410)
  var PROBE_AFTER = 2;           // failed connects in a row before asking the page URL whether it still exists
  var SHOWN_KEEP = 20000;        // seqs kept for state().shown
  var RECENT_KEEP = 50;
  var BLOCK_TYPES = ['name', 'bib', 'time', 'city_state', 'message', 'division', 'place', 'clock',
    'countdown', 'leaderboard', 'text', 'image', 'slides'];
  var FINISHER_TYPES = ['name', 'bib', 'time', 'city_state', 'message', 'division', 'place'];

  var FONT_STACKS = {
    display: "'Inter', 'Segoe UI', 'Roboto', 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    body: "'Inter', 'Segoe UI', 'Roboto', 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    condensed: "'Roboto Condensed', 'Arial Narrow', 'Liberation Sans Narrow', 'Helvetica Neue', Arial, sans-serif",
    mono: "'Inter', 'Segoe UI', 'Roboto', 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"
  };

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

  // ---------------------------------------------------------------- validation helpers
  var HEX_COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
  var NUM = '\\s*-?(?:\\d{1,3}(?:\\.\\d{1,4})?|\\.\\d{1,4})%?\\s*';
  var FUNC_COLOR = new RegExp('^(?:rgba?|hsla?)\\(' + NUM + ',' + NUM + ',' + NUM + '(?:,' + NUM + ')?\\)$', 'i');
  var FONT_FAMILY = /^[A-Za-z0-9 ,'"\-]{1,200}$/;
  var IMAGE_DATA = /^data:image\/(?:png|jpeg|jpg|gif|webp|avif|svg\+xml)(?:;[a-z0-9=.+\-]{1,40})*(?:;base64)?,[A-Za-z0-9+\/=%._\-]*$/i;
  var IMAGE_PATH = /^\/(?![\/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%\/?]*$/;

  function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

  function safeColor(v) {
    if (typeof v !== 'string') return null;
    v = v.trim();
    if (v.length > 64) return null;
    if (HEX_COLOR.test(v) || FUNC_COLOR.test(v) || v === 'transparent') return v;
    return null;
  }

  function safeImage(v) {
    if (typeof v !== 'string' || v.length > 2000000) return null;
    if (IMAGE_PATH.test(v) && v.length <= 2000) return v;
    if (IMAGE_DATA.test(v)) return v;
    return null;
  }

  function safeFont(v) {
    if (typeof v !== 'string') return null;
    if (Object.prototype.hasOwnProperty.call(FONT_STACKS, v)) return FONT_STACKS[v];
    return FONT_FAMILY.test(v) ? v : null;
  }

  function num(v, lo, hi, dflt) {
    if (typeof v !== 'number' || !isFinite(v)) return dflt;
    return Math.min(hi, Math.max(lo, v));
  }

  function str(v, max) {
    if (v === null || v === undefined) return '';
    if (typeof v !== 'string' && typeof v !== 'number') return '';
    var s = String(v);
    max = max || MAX_TEXT;
    return s.length > max ? s.slice(0, max) : s;
  }

  function oneOf(v, allowed, dflt) { return allowed.indexOf(v) >= 0 ? v : dflt; }

  function now() { return Date.now(); }

  // ---------------------------------------------------------------- storage (may throw)
  function storeGet(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }
  function storeSet(key, value) {
    try { window.sessionStorage.setItem(key, value); } catch (e) { /* private mode / quota */ }
  }

  function randomId() {
    var bytes = new Uint8Array(12);
    var c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) { c.getRandomValues(bytes); }
    else { for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256); }
    var out = '';
    for (var j = 0; j < bytes.length; j++) out += (bytes[j] < 16 ? '0' : '') + bytes[j].toString(16);
    return out;
  }

  // ---------------------------------------------------------------- config
  function readConfig() {
    var el = document.getElementById('rc-config');
    var cfg = null;
    if (el) {
      try { cfg = JSON.parse(el.textContent); } catch (e) { cfg = null; }
    }
    return isObj(cfg) ? cfg : null;
  }

  var config = readConfig();
  var pathMatch = /^\/display\/([^\/]+)\/?$/.exec(window.location.pathname);
  var token = (config && typeof config.token === 'string') ? config.token : (pathMatch ? decodeURIComponent(pathMatch[1]) : '');
  var STORE_KEY = 'rc.display.' + token;

  function wsUrlFrom(cfgUrl) {
    var u = (typeof cfgUrl === 'string' && cfgUrl) ? cfgUrl : '/display/' + encodeURIComponent(token) + '/ws';
    if (/^wss?:\/\//i.test(u)) return u;
    var proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (u.charAt(0) !== '/') u = '/' + u;
    return proto + '//' + window.location.host + u;
  }

  // ---------------------------------------------------------------- state
  var S = {
    connection: 'connecting',
    mode: 'results',
    session: {},
    templates: {},         // mode -> cleaned template
    lastSeq: 0,            // highest seq received (dedupe + resume)
    lastShown: 0,          // highest seq put on screen (persisted; a reload resumes from here)
    queue: [],             // finishers waiting, in seq order
    shown: [],             // seqs shown, in order
    current: [],           // finisher objects on screen now
    currentKind: 'none',   // 'none' | 'single' | 'grid'
    shownAt: 0,
    recent: [],            // most recent first
    board: null,           // server leaderboard entries, if any
    boardDivisions: {},    // server leaderboard per division
    duplicates: 0,
    caughtUp: false,
    heartbeat: 2000,
    offset: 0,             // server clock - local clock (ms)
    lastMsgAt: 0,
    lastLiveAt: 0,         // last message while the link was healthy (banner "last update")
    everLive: false,
    screenId: '',
    messageIndex: 0,
    modeBy: '',            // who switched the mode last ("operator", "first finisher", "schedule")
    corrections: 0,        // corrections applied (a "Bib N" finisher whose runner became known)
    ended: false,          // the session was closed: no more reconnects
    portrait: false,       // the stage uses the portrait reflow (narrow screens)
    switching: ''          // path this screen is navigating to after a `switch`
  };

  S.screenId = storeGet('rc.screen_id') || '';
  if (!/^[0-9a-z]{8,64}$/i.test(S.screenId)) {
    S.screenId = randomId();
    storeSet('rc.screen_id', S.screenId);
  }

  if (config && isObj(config.session)) mergeSession(config.session);
  if (config) {
    if (isObj(config.templates)) {
      Object.keys(config.templates).forEach(function (k) { putTemplate(config.templates[k], k); });
    }
    putTemplate(config.template, null);
  }
  S.mode = oneOf(S.session.mode, ['results', 'pre-race'], 'results');

  (function restore() {
    var raw = storeGet(STORE_KEY);
    if (!raw) return;
    try {
      var saved = JSON.parse(raw);
      if (isObj(saved) && typeof saved.lastShown === 'number' && saved.lastShown >= 0) {
        S.lastShown = S.lastSeq = Math.floor(saved.lastShown);
        if (Array.isArray(saved.recent)) S.recent = saved.recent.filter(isObj).slice(0, RECENT_KEEP).map(cleanFinisher);
      }
    } catch (e) { /* ignore */ }
  })();

  function persist() {
    var recent = S.recent.slice(0, 12);
    storeSet(STORE_KEY, JSON.stringify({ lastShown: S.lastShown, recent: recent }));
  }

  function mergeSession(sess) {
    if (!isObj(sess)) return;
    var out = {};
    Object.keys(S.session).forEach(function (k) { out[k] = S.session[k]; });
    ['id', 'name', 'event_name'].forEach(function (k) { if (k in sess) out[k] = str(sess[k], 200); });
    ['gun_at', 'starts_at'].forEach(function (k) {
      if (k in sess) out[k] = (typeof sess[k] === 'number' && isFinite(sess[k])) ? sess[k] : null;
    });
    if ('mode' in sess) out.mode = oneOf(sess.mode, ['results', 'pre-race'], out.mode || 'results');
    S.session = out;
  }

  // ---------------------------------------------------------------- templates

  function cleanRect(r, cw, ch) {
    if (!isObj(r)) return null;
    var x = num(r.x, -cw, cw * 2, NaN), y = num(r.y, -ch, ch * 2, NaN);
    var w = num(r.w, 1, cw * 2, NaN), h = num(r.h, 1, ch * 2, NaN);
    if (isNaN(x) || isNaN(y) || isNaN(w) || isNaN(h)) return null;
    return { x: x, y: y, w: w, h: h };
  }

  function cleanTemplate(t) {
    if (!isObj(t) || t.format !== FORMAT || !Array.isArray(t.blocks)) return null;
    var canvas = isObj(t.canvas) ? t.canvas : {};
    var cw = Math.round(num(canvas.width, 320, 7680, 1920));
    var ch = Math.round(num(canvas.height, 240, 7680, 1080));
    var theme = isObj(t.theme) ? t.theme : {};
    var out = {
      name: str(t.name, 200),
      mode: oneOf(t.mode, ['results', 'pre-race'], null),
      canvas: { width: cw, height: ch },
      theme: {
        background: safeColor(theme.background) || '#070b16',
        foreground: safeColor(theme.foreground) || '#ffffff',
        accent: safeColor(theme.accent) || '#ffd21f',
        font: safeFont(theme.font) || FONT_STACKS.display,
        background_image: safeImage(theme.background_image)
      },
      grid: null,
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
    return {
      size: num(s.size, 6, 1200, 48),
      weight: typeof w === 'number' ? Math.round(num(w, 100, 900, 700) / 100) * 100 : 700,
      align: oneOf(s.align, ['left', 'center', 'right'], 'left'),
      color: safeColor(s.color),
      background: safeColor(s.background),
      radius: num(s.radius, 0, 600, 0),
      font: safeFont(s.font),
      transform: oneOf(s.transform, ['uppercase', 'lowercase', 'capitalize', 'none'], 'none'),
      italic: s.italic === true,
      spacing: num(s.spacing, -20, 100, 0)
    };
  }

  function putTemplate(raw, modeHint) {
    var t = cleanTemplate(raw);
    if (!t) {
      if (raw !== undefined && raw !== null && window.console) console.warn('race-control: template ignored (not ' + FORMAT + ')');
      return false;
    }
    var mode = t.mode || oneOf(modeHint, ['results', 'pre-race'], null) || S.mode || 'results';
    S.templates[mode] = t;
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
      grid: null, portrait: true, portraitOf: t, idle_text: t.idle_text, blocks: out
    };
  }

  // ---------------------------------------------------------------- DOM scaffolding
  var body = document.body;
  var root, stage, staticLayer, cardLayer, gridLayer, idleEl, banner, bannerTitle, bannerAge, endedEl;
  var view = null;        // { template, blocks: [{type, el, inner, spec, style}], grid }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function scaffold() {
    root = el('div', 'rc-root');
    root.id = 'rc-root';
    stage = el('div', 'rc-stage');
    stage.id = 'rc-stage';
    staticLayer = el('div', 'rc-layer rc-static');
    cardLayer = el('div', 'rc-layer rc-card');
    cardLayer.setAttribute('aria-live', 'polite');
    gridLayer = el('div', 'rc-layer rc-grid');
    idleEl = el('div', 'rc-idle');
    banner = el('div', 'rc-banner');
    banner.id = 'rc-banner';
    banner.setAttribute('role', 'status');
    var dot = el('span', 'rc-banner-dot');
    bannerTitle = el('span', 'rc-banner-title', 'Connection lost — reconnecting…');
    bannerAge = el('span', 'rc-banner-age', '');
    banner.appendChild(dot);
    banner.appendChild(bannerTitle);
    banner.appendChild(bannerAge);
    stage.appendChild(staticLayer);
    stage.appendChild(cardLayer);
    stage.appendChild(gridLayer);
    stage.appendChild(idleEl);
    stage.appendChild(banner);
    root.appendChild(stage);
    // Outside the stage: plain, viewport-sized, readable on any screen without the template.
    endedEl = el('div', 'rc-ended');
    endedEl.id = 'rc-ended';
    endedEl.setAttribute('role', 'status');
    var endedBox = el('div', 'rc-ended-box');
    endedBox.appendChild(el('div', 'rc-ended-title', 'This display has ended'));
    endedBox.appendChild(el('div', 'rc-ended-sub', 'The timer closed this display session. Thank you for watching!'));
    endedEl.appendChild(endedBox);
    root.appendChild(endedEl);
    var old = document.getElementById('rc-root');
    if (old && old.parentNode) old.parentNode.removeChild(old);
    body.appendChild(root);
    window.addEventListener('resize', layoutStage);
    if (window.visualViewport) window.visualViewport.addEventListener('resize', layoutStage);
  }

  function layoutStage() {
    if (!view) return;
    var base = view.template.portraitOf || view.template;
    if (wantsPortrait(base) !== S.portrait) { build(); return; }   // rotated: re-stack the blocks
    var cw = view.template.canvas.width, ch = view.template.canvas.height;
    var vw = window.innerWidth || document.documentElement.clientWidth || cw;
    var vh = window.innerHeight || document.documentElement.clientHeight || ch;
    var s = Math.min(vw / cw, vh / ch);
    var left = Math.round((vw - cw * s) / 2), top = Math.round((vh - ch * s) / 2);
    stage.style.width = cw + 'px';
    stage.style.height = ch + 'px';
    stage.style.transform = 'translate(' + left + 'px,' + top + 'px) scale(' + s + ')';
  }

  function applyBox(e, b) {
    e.style.left = b.x + 'px';
    e.style.top = b.y + 'px';
    e.style.width = b.w + 'px';
    e.style.height = b.h + 'px';
  }

  function applyStyle(e, st, theme) {
    e.style.fontSize = st.size + 'px';
    e.style.fontWeight = String(st.weight);
    e.style.color = st.color || theme.foreground;
    e.style.justifyContent = st.align === 'center' ? 'center' : (st.align === 'right' ? 'flex-end' : 'flex-start');
    e.style.textAlign = st.align;
    if (st.background) e.style.backgroundColor = st.background;
    if (st.radius) e.style.borderRadius = st.radius + 'px';
    if (st.font) e.style.fontFamily = st.font;
    if (st.transform !== 'none') e.style.textTransform = st.transform;
    if (st.italic) e.style.fontStyle = 'italic';
    if (st.spacing) e.style.letterSpacing = st.spacing + 'px';
    if (st.background) {
      var pad = Math.round(Math.min(st.size * 0.5, 40));
      e.style.paddingLeft = pad + 'px';
      e.style.paddingRight = pad + 'px';
    }
  }

  function textSpan(cls) {
    var s = el('span', 'rc-t' + (cls ? ' ' + cls : ''));
    s.setAttribute('dir', 'auto');      // plus unicode-bidi: isolate in CSS
    return s;
  }

  // ---------------------------------------------------------------- text fitting
  // Shrink the font until the text fits its box; if the minimum size still overflows, wrap to
  // `lines` lines and finally clamp with an ellipsis. Layout sizes ignore the stage transform.
  function fit(span, box, base, lines, minRatio) {
    lines = lines || 1;
    var minSize = Math.max(8, base * (minRatio || 0.45));
    span.classList.remove('rc-multi');
    span.classList.remove('rc-clamp');
    span.style.webkitLineClamp = '';
    span.style.fontSize = base + 'px';
    if (!span.textContent) return;
    var cs = window.getComputedStyle(box);
    var availH = box.clientHeight - (parseFloat(cs.paddingTop) || 0) - (parseFloat(cs.paddingBottom) || 0);
    var availW = box.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
    function fitsOne() {
      return span.scrollWidth < availW && span.offsetHeight <= availH + 1;
    }
    if (fitsOne()) return;
    var best = search(span, minSize, base, fitsOne);
    if (best) { span.style.fontSize = best + 'px'; return; }
    if (lines > 1) {
      span.classList.add('rc-multi');
      span.style.maxHeight = 'none';
      var fitsMulti = function () {
        var size = parseFloat(span.style.fontSize);
        return span.scrollWidth < availW && span.offsetHeight <= availH + 1 &&
          span.offsetHeight <= lines * size * 1.2 + 2;
      };
      best = search(span, minSize, base, fitsMulti);
      if (best) { span.style.fontSize = best + 'px'; return; }
      var lh = 1.12;
      var size = Math.max(minSize, Math.min(base, availH / (lines * lh) * 0.94));
      span.style.fontSize = size + 'px';
      span.classList.add('rc-clamp');
      span.style.webkitLineClamp = String(lines);
      return;
    }
    span.style.fontSize = minSize + 'px';   // single line: ellipsis via CSS
  }

  // Largest font size in [lo, hi] for which fits() holds (binary search), or 0.
  function search(span, lo, hi, fits) {
    var best = 0;
    for (var i = 0; i < 9 && hi - lo > 1; i++) {
      var mid = (lo + hi) / 2;
      span.style.fontSize = mid + 'px';
      if (fits()) { best = mid; lo = mid; } else { hi = mid; }
    }
    if (!best) { span.style.fontSize = lo + 'px'; if (fits()) best = lo; }
    return best ? Math.floor(best) : 0;
  }

  function fitText(span, box, base, lines, minRatio) { fit(span, box, base, lines, minRatio); }

  // ---------------------------------------------------------------- formatting
  function pad2(n) { return n < 10 ? '0' + n : String(n); }

  function fmtElapsed(ms) {
    if (ms < 0) ms = 0;
    var t = Math.floor(ms / 1000);
    var h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return h + ':' + pad2(m) + ':' + pad2(s);
  }

  function fmtCountdown(ms) {
    var t = Math.ceil(ms / 1000);
    var d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    if (d > 0) return d + 'd ' + pad2(h) + ':' + pad2(m) + ':' + pad2(s);
    if (h > 0) return h + ':' + pad2(m) + ':' + pad2(s);
    return pad2(m) + ':' + pad2(s);
  }

  function fmtAge(ms) {
    var t = Math.max(0, Math.floor(ms / 1000));
    if (t < 60) return t + ' s';
    if (t < 3600) return Math.floor(t / 60) + ' min ' + pad2(t % 60) + ' s';
    return Math.floor(t / 3600) + ' h ' + pad2(Math.floor((t % 3600) / 60)) + ' min';
  }

  function ordinal(n) {
    var v = n % 100;
    if (v >= 11 && v <= 13) return n + 'th';
    return n + (['th', 'st', 'nd', 'rd'][n % 10] || 'th');
  }

  function cityState(f) {
    var parts = [];
    if (f.city) parts.push(f.city);
    if (f.state) parts.push(f.state);
    if (f.country && (!f.state || (f.country !== 'US' && f.country !== 'USA'))) parts.push(f.country);
    return parts.join(', ');
  }

  function nameFor(f, part) {
    if (part === 'first') return f.first_name || f.name;
    if (part === 'last') return f.last_name || f.name;
    return f.name || ((f.first_name + ' ' + f.last_name).trim()) || (f.bib ? 'Bib ' + f.bib : '');
  }

  function placeText(f) {
    if (typeof f.place === 'number' && isFinite(f.place) && f.place > 0) return ordinal(Math.floor(f.place));
    return f.place ? str(f.place, 20) : '';
  }

  function cleanFinisher(m) {
    return {
      seq: typeof m.seq === 'number' ? m.seq : 0,
      bib: str(m.bib, 20),
      name: str(m.name),
      first_name: str(m.first_name),
      last_name: str(m.last_name),
      city: str(m.city, 120),
      state: str(m.state, 60),
      country: str(m.country, 60),
      time: str(m.time, 40),
      location: str(m.location, 60),
      division: str(m.division, 80),
      age: (typeof m.age === 'number' && isFinite(m.age)) ? m.age : null,
      gender: str(m.gender, 20),
      message: str(m.message),
      known: m.known !== false,
      place: (typeof m.place === 'number' || typeof m.place === 'string') ? m.place : null,
      read_at: (typeof m.read_at === 'number' && isFinite(m.read_at)) ? m.read_at : null
    };
  }

  function substitute(text) {
    return text.replace(/\{(event_name|session_name)\}/g, function (_, key) {
      return key === 'event_name' ? (S.session.event_name || '') : (S.session.name || '');
    });
  }

  // ---------------------------------------------------------------- building the view
  function build() {
    var t = activeTemplate();
    S.portrait = wantsPortrait(t);
    if (S.portrait) t = portraitOf(t);
    stopSlides();
    staticLayer.textContent = '';
    cardLayer.textContent = '';
    gridLayer.textContent = '';
    idleEl.textContent = '';
    view = { template: t, blocks: [], grid: null };

    var rs = document.documentElement.style;
    rs.setProperty('--rc-bg', t.theme.background);
    rs.setProperty('--rc-fg', t.theme.foreground);
    rs.setProperty('--rc-accent', t.theme.accent);
    stage.style.fontFamily = t.theme.font;
    root.style.backgroundColor = t.theme.background;   // letterbox blends with the canvas
    stage.style.backgroundColor = t.theme.background;
    stage.style.color = t.theme.foreground;
    stage.style.backgroundImage = t.theme.background_image ? 'url("' + t.theme.background_image.replace(/["\\]/g, '') + '")' : '';
    body.setAttribute('data-mode', S.mode);
    layoutStage();

    var finisherBoxes = [];
    t.blocks.forEach(function (b) {
      var box = el('div', 'rc-block rc-' + b.type.replace('_', '-'));
      applyBox(box, b);
      applyStyle(box, b.style, t.theme);
      var rec = { type: b.type, el: box, spec: b.spec, style: b.style, inner: null };
      var isFinisher = FINISHER_TYPES.indexOf(b.type) >= 0;
      (isFinisher ? cardLayer : staticLayer).appendChild(box);
      if (isFinisher) {
        finisherBoxes.push(b);
        rec.inner = textSpan(b.type === 'name' ? 'rc-name' : '');
        box.appendChild(rec.inner);
      } else {
        buildStatic(rec, t);
      }
      view.blocks.push(rec);
    });

    var g = t.grid;
    if (!g) g = boundingBox(finisherBoxes) || { x: 56, y: 150, w: 1328, h: 874 };
    view.grid = { x: g.x, y: g.y, w: g.w, h: g.h, columns: g.columns || 2 };
    applyBox(idleEl, view.grid);
    var idleTitle = el('div', 'rc-idle-title', t.idle_text || 'Waiting for finishers');
    var idleSub = el('div', 'rc-idle-sub', S.session.event_name || '');
    idleTitle.setAttribute('dir', 'auto');
    idleSub.setAttribute('dir', 'auto');
    idleEl.appendChild(idleTitle);
    idleEl.appendChild(idleSub);

    tick(true);
    renderBoards();
    if (S.mode === 'results') redrawCurrent();
    else showKind('none');
  }

  function boundingBox(rects) {
    if (!rects.length) return null;
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    rects.forEach(function (r) {
      x1 = Math.min(x1, r.x); y1 = Math.min(y1, r.y);
      x2 = Math.max(x2, r.x + r.w); y2 = Math.max(y2, r.y + r.h);
    });
    return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
  }

  function buildStatic(rec, t) {
    var sp = rec.spec, st = rec.style;
    switch (rec.type) {
      case 'text': {
        rec.inner = textSpan();
        rec.el.appendChild(rec.inner);
        rec.inner.textContent = substitute(str(sp.text, 1000));
        rec.lines = Math.round(num(sp.lines, 1, 6, 1));
        fitText(rec.inner, rec.el, st.size, rec.lines, 0.4);
        break;
      }
      case 'image': {
        var src = safeImage(sp.src);
        if (!src) { rec.el.style.display = 'none'; break; }
        var img = el('img', 'rc-img');
        img.alt = str(sp.alt, 200);
        img.draggable = false;
        img.decoding = 'async';
        try { img.referrerPolicy = 'no-referrer'; } catch (e) { /* old browsers */ }
        img.style.objectFit = oneOf(sp.fit, ['contain', 'cover', 'fill'], 'contain');
        img.src = src;
        rec.el.appendChild(img);
        break;
      }
      case 'clock':
      case 'countdown': {
        rec.el.classList.add('rc-timer');
        var label = str(sp.label, 80);
        if (label) {
          var l = el('span', 'rc-timer-label', label);
          l.style.color = t.theme.accent;
          l.style.fontSize = Math.max(12, Math.round(st.size * 0.26)) + 'px';
          rec.el.appendChild(l);
        }
        rec.inner = textSpan('rc-digits');
        rec.el.appendChild(rec.inner);
        rec.last = null;
        break;
      }
      case 'leaderboard': {
        rec.rows = Math.round(num(sp.rows, 1, 30, 8));
        rec.source = oneOf(sp.source, ['auto', 'recent', 'server'], 'auto');
        rec.el.classList.add('rc-board');
        var title = str(sp.title, 80);
        if (title) {
          var h = el('div', 'rc-board-title', title);
          h.style.color = t.theme.accent;
          h.style.fontSize = Math.round(st.size * 0.9) + 'px';
          rec.el.appendChild(h);
        }
        rec.list = el('div', 'rc-board-list');
        rec.el.appendChild(rec.list);
        break;
      }
      case 'slides': {
        rec.items = (Array.isArray(sp.items) ? sp.items : []).slice(0, 50).map(function (it) {
          if (typeof it === 'string') return { title: str(it, 300), text: '', image: null };
          if (!isObj(it)) return null;
          return { title: str(it.title, 300), text: str(it.text, 600), image: safeImage(it.image) };
        }).filter(function (it) { return it && (it.title || it.text || it.image); });
        rec.interval = num(sp.interval_s, 2, 600, 8) * 1000;
        rec.index = -1;
        rec.el.classList.add('rc-slides');
        showSlide(rec);
        if (rec.items.length > 1) {
          slideTimers.push(setInterval(function () { showSlide(rec); }, rec.interval));
        }
        break;
      }
    }
  }

  var slideTimers = [];
  function stopSlides() {
    slideTimers.forEach(function (id) { clearInterval(id); });
    slideTimers = [];
  }

  function showSlide(rec) {
    if (!rec.items.length) return;
    rec.index = (rec.index + 1) % rec.items.length;
    var it = rec.items[rec.index];
    var st = rec.style;
    var slide = el('div', 'rc-slide');
    var availH = rec.el.clientHeight || st.size * 3;
    if (it.image) {
      var img = el('img', 'rc-slide-img');
      img.alt = '';
      img.draggable = false;
      img.src = it.image;
      img.style.maxHeight = (it.title || it.text) ? '55%' : '100%';
      slide.appendChild(img);
    }
    var title = null, text = null;
    if (it.title) {
      title = el('div', 'rc-slide-title');
      title.appendChild(textSpan()).textContent = it.title;
      slide.appendChild(title);
    }
    if (it.text) {
      text = el('div', 'rc-slide-text');
      text.appendChild(textSpan()).textContent = it.text;
      text.style.fontSize = Math.round(st.size * 0.62) + 'px';
      text.style.fontWeight = '600';
      slide.appendChild(text);
    }
    rec.el.textContent = '';
    rec.el.appendChild(slide);
    if (title) {
      title.style.height = Math.round(text ? availH * 0.4 : availH * 0.8) + 'px';
      fitText(title.firstChild, title, st.size, 1, 0.4);
    }
    if (text) {
      text.style.height = Math.round(it.title ? availH * 0.45 : availH * 0.8) + 'px';
      fitText(text.firstChild, text, Math.round(st.size * 0.62), 2, 0.5);
    }
  }

  // ---------------------------------------------------------------- finisher rendering
  function showKind(kind) {
    body.setAttribute('data-view', kind === 'none' ? (S.mode === 'results' ? 'idle' : 'pre-race') : kind);
    cardLayer.style.visibility = kind === 'single' ? 'visible' : 'hidden';
    gridLayer.style.visibility = kind === 'grid' ? 'visible' : 'hidden';
    idleEl.style.visibility = (kind === 'none' && S.mode === 'results') ? 'visible' : 'hidden';
  }

  function animate(layer) {
    layer.classList.remove('rc-enter');
    void layer.offsetWidth;       // restart the CSS animation
    layer.classList.add('rc-enter');
  }

  function rotatingMessage(rec) {
    var list = Array.isArray(rec.spec.rotate) ? rec.spec.rotate.filter(function (m) { return typeof m === 'string' && m; }) : [];
    if (!list.length) return '';
    var m = list[S.messageIndex % list.length];
    return str(m);
  }

  function renderSingle(f, quiet) {
    if (!view) return;
    var usedRotate = false;
    view.blocks.forEach(function (rec) {
      if (FINISHER_TYPES.indexOf(rec.type) < 0) return;
      var sp = rec.spec, text = '';
      switch (rec.type) {
        case 'name': text = nameFor(f, sp.part); break;
        case 'bib': text = f.bib ? str(sp.prefix, 20) + f.bib : ''; break;
        case 'time': text = f.time; break;
        case 'city_state': text = cityState(f); break;
        case 'division': text = f.division; break;
        case 'place': { var p = placeText(f); text = p ? str(sp.prefix, 20) + p : ''; break; }
        case 'message':
          text = f.message;
          if (!text && quiet && f.rotated) text = f.rotated;      // a redraw keeps its message
          else if (!text) { text = rotatingMessage(rec); usedRotate = usedRotate || !!text; f.rotated = text; }
          break;
      }
      rec.inner.textContent = text;
      rec.el.classList.toggle('rc-empty', !text);
      rec.el.classList.toggle('rc-unknown', rec.type === 'name' && !f.known);
      var lines = Math.round(num(sp.lines, 1, 4, rec.type === 'message' ? 2 : 1));
      fitText(rec.inner, rec.el, rec.style.size, lines, rec.type === 'name' ? 0.3 : 0.45);
    });
    if (usedRotate) S.messageIndex++;
    showKind('single');
    if (!quiet) animate(cardLayer);
  }

  function renderGrid(list, quiet) {
    if (!view) return;
    var g = view.grid, t = view.template;
    gridLayer.textContent = '';
    var cols = Math.max(1, Math.min(g.columns || 2, list.length));
    // Up to 4 cards: big 2x2; more: the full 8-card page so card sizes do not jump around.
    var rows = list.length <= 4 ? Math.ceil(list.length / cols) : Math.ceil(GRID_MAX / cols);
    rows = Math.max(rows, Math.ceil(list.length / cols));
    var gap = 18;
    var cw = (g.w - gap * (cols - 1)) / cols;
    var ch = (g.h - gap * (rows - 1)) / rows;
    var padY = Math.round(Math.min(24, ch * 0.09));
    var nameH = Math.round((ch - 2 * padY) * 0.56);
    var infoH = Math.round((ch - 2 * padY) * 0.40);
    var nameSize = Math.round(Math.min(nameH * 0.8, cw * 0.1));
    var infoSize = Math.round(Math.min(infoH * 0.62, cw * 0.07));
    list.forEach(function (f, i) {
      var c = i % cols, r = Math.floor(i / cols);
      var card = el('div', 'rc-mini');
      card.style.left = (g.x + c * (cw + gap)) + 'px';
      card.style.top = (g.y + r * (ch + gap)) + 'px';
      card.style.width = cw + 'px';
      card.style.height = ch + 'px';
      card.style.paddingTop = card.style.paddingBottom = padY + 'px';
      card.style.setProperty('--rc-delay', (i * 45) + 'ms');
      card.style.borderLeftColor = t.theme.accent;

      var nm = el('div', 'rc-mini-name' + (f.known ? '' : ' rc-unknown'));
      nm.style.height = nameH + 'px';
      var nspan = textSpan('rc-name');
      nspan.textContent = nameFor(f);
      nm.appendChild(nspan);

      var info = el('div', 'rc-mini-info');
      info.style.height = infoH + 'px';
      info.style.fontSize = infoSize + 'px';
      var bib = el('span', 'rc-mini-bib');
      bib.style.backgroundColor = t.theme.accent;
      bib.style.color = t.theme.background;
      bib.appendChild(textSpan()).textContent = f.bib || '—';
      var city = el('span', 'rc-mini-city');
      var cspan = textSpan();
      cspan.textContent = [cityState(f), f.division].filter(Boolean).join(' · ');
      city.appendChild(cspan);
      var tm = el('span', 'rc-mini-time');
      tm.style.color = t.theme.accent;
      tm.style.fontSize = Math.round(infoSize * 1.15) + 'px';
      tm.appendChild(textSpan()).textContent = f.time;
      info.appendChild(bib);
      info.appendChild(city);
      info.appendChild(tm);

      card.appendChild(nm);
      card.appendChild(info);
      gridLayer.appendChild(card);
      fitText(nspan, nm, nameSize, 1, 0.45);
      fitText(cspan, city, infoSize, 1, 0.6);   // shrink a long city a little before the ellipsis
    });
    showKind('grid');
    if (!quiet) animate(gridLayer);
    else gridLayer.classList.remove('rc-enter');
  }

  function redrawCurrent() {
    if (S.currentKind === 'single' && S.current.length) renderSingle(S.current[0], true);
    else if (S.currentKind === 'grid' && S.current.length) renderGrid(S.current, true);
    else if (S.recent.length && S.currentKind === 'none') {
      // After a reload: show the last finisher again (no `rendered` ack; it was acked before).
      S.current = [S.recent[0]];
      S.currentKind = 'single';
      renderSingle(S.recent[0]);
    } else showKind('none');
  }

  // ---------------------------------------------------------------- leaderboard / recent
  function renderBoards() {
    if (!view) return;
    view.blocks.forEach(function (rec) {
      if (rec.type !== 'leaderboard') return;
      var useServer = rec.source === 'server' || (rec.source === 'auto' && S.board);
      var entries = useServer ? (S.board || []) : S.recent;
      var division = typeof rec.spec.division === 'string' ? rec.spec.division : '';
      if (division && useServer && S.boardDivisions && S.boardDivisions[division]) {
        entries = S.boardDivisions[division];  // the division's own top N, with division places
      } else if (division) {
        entries = entries.filter(function (e) { return e.division === division; });
      }
      entries = entries.slice(0, rec.rows);
      rec.list.textContent = '';
      var titleH = rec.list.previousSibling ? rec.style.size * 1.9 : 0;
      var rowH = Math.max(10, (rec.el.clientHeight - titleH - 24) / rec.rows);
      entries.forEach(function (e, i) {
        var row = el('div', 'rc-row' + (i === 0 && !useServer ? ' rc-row-new' : ''));
        row.style.height = rowH + 'px';
        var nm = el('div', 'rc-row-name');
        var ns = textSpan('rc-name');
        ns.textContent = nameFor(e);
        nm.appendChild(ns);
        var sub = el('div', 'rc-row-sub');
        var lead = el('span', 'rc-row-lead');
        var leadText = useServer ? (placeText(e) || String(i + 1)) : (e.bib ? '#' + e.bib : '');
        if (useServer && e.bib) leadText += '  #' + e.bib;
        lead.appendChild(textSpan()).textContent = leadText;
        var tm = el('span', 'rc-row-time');
        tm.appendChild(textSpan()).textContent = e.time;
        sub.appendChild(lead);
        sub.appendChild(tm);
        row.appendChild(nm);
        row.appendChild(sub);
        rec.list.appendChild(row);
      });
      if (!entries.length) {
        rec.list.appendChild(el('div', 'rc-board-empty', 'No finishers yet'));
      }
    });
  }

  // ---------------------------------------------------------------- the queue
  var cardTimer = null;

  function singleDwell(waiting) {
    if (waiting <= 0) return CALM_DWELL_MS;
    return Math.max(MIN_DWELL_MS, CALM_DWELL_MS - 900 * waiting);
  }

  function gridDwell(onScreen, waiting) {
    var base = 1200 + 250 * onScreen;                 // 8 cards, calm: 3.2 s
    var floor = waiting > 40 ? 1000 : 1500;
    return Math.max(floor, base - 100 * waiting);
  }

  function currentDwell() {
    if (S.currentKind === 'grid') return gridDwell(S.current.length, S.queue.length);
    return singleDwell(S.queue.length);
  }

  function schedule(ms) {
    if (cardTimer) clearTimeout(cardTimer);
    cardTimer = setTimeout(function () { cardTimer = null; pump(); }, Math.max(0, ms));
  }

  function pump() {
    if (S.mode !== 'results' || !view || !S.queue.length) return;
    if (S.currentKind !== 'none' && S.shownAt) {
      var wait = currentDwell() - (now() - S.shownAt);
      if (wait > 0) { schedule(wait); return; }
    }
    showNext();
  }

  function showNext() {
    var batch;
    if (S.queue.length >= GRID_MIN_WAITING) {
      batch = S.queue.splice(0, Math.min(GRID_MAX, S.queue.length));
      S.currentKind = 'grid';
      S.current = batch;
      renderGrid(batch);
    } else {
      batch = [S.queue.shift()];
      S.currentKind = 'single';
      S.current = batch;
      renderSingle(batch[0]);
    }
    S.shownAt = now();
    batch.forEach(function (f) {
      S.shown.push(f.seq);
      if (f.seq > S.lastShown) S.lastShown = f.seq;
      S.recent.unshift(f);
    });
    if (!S.queue.length) S.lastShown = Math.max(S.lastShown, S.lastSeq);   // corrections in between
    if (S.shown.length > SHOWN_KEEP) S.shown.splice(0, S.shown.length - SHOWN_KEEP);
    if (S.recent.length > RECENT_KEEP) S.recent.length = RECENT_KEEP;
    persist();
    renderBoards();
    ack(batch);
    if (S.queue.length) schedule(currentDwell());
  }

  function ack(batch) {
    var seqs = batch.map(function (f) { return f.seq; });
    afterPaint(function () {
      var at = now();
      seqs.forEach(function (seq) { send({ type: 'rendered', seq: seq, at: at, server_at: at + Math.round(S.offset) }); });
    });
  }

  function afterPaint(fn) {
    if (document.hidden || !window.requestAnimationFrame) { setTimeout(fn, 0); return; }
    var done = false;
    var go = function () { if (!done) { done = true; fn(); } };
    window.requestAnimationFrame(function () { setTimeout(go, 0); });
    setTimeout(go, 250);   // rAF is paused in background tabs
  }

  // ---------------------------------------------------------------- modes and settings
  function setMode(mode) {
    mode = oneOf(mode, ['results', 'pre-race'], null);
    if (!mode || mode === S.mode) return;
    S.mode = mode;
    S.session.mode = mode;
    build();
    if (mode === 'results') pump();
  }

  // ---------------------------------------------------------------- clocks (every 250 ms)
  function serverNow() { return now() + S.offset; }

  function tick(force) {
    if (view) {
      var t = serverNow();
      view.blocks.forEach(function (rec) {
        if (rec.type !== 'clock' && rec.type !== 'countdown') return;
        var sp = rec.spec, text;
        if (rec.type === 'clock') {
          var gun = S.session.gun_at;
          text = (typeof gun === 'number') ? fmtElapsed(t - gun) : str(sp.empty_text, 80);
        } else {
          var target = sp.target === 'gun_at' ? S.session.gun_at
            : sp.target === 'starts_at' ? S.session.starts_at
              : (typeof S.session.starts_at === 'number' ? S.session.starts_at : S.session.gun_at);
          if (typeof target !== 'number') text = str(sp.empty_text, 80) || 'Starting soon';
          else if (target - t > 0) text = fmtCountdown(target - t);
          else text = str(sp.done_text, 80) || ('+' + fmtElapsed(t - target));
        }
        if (force || text !== rec.last) {
          var relayout = force || rec.last === null || (rec.last || '').length !== text.length;
          rec.last = text;
          rec.inner.textContent = text;
          rec.el.classList.toggle('rc-empty', !text);
          if (relayout) fitText(rec.inner, rec.el, rec.style.size, 1, 0.3);
        }
      });
    }
    updateBanner();
  }

  // ---------------------------------------------------------------- connection
  var ws = null, gen = 0, attempts = 0, reconnectTimer = null, graceTimer = null, openTimer = null;
  var startedAt = now();

  function staleAfter() { return Math.min(STALE_CAP_MS, Math.max(3000, 3 * S.heartbeat)); }

  function setConnection(state) {
    if (S.connection === state) return;
    S.connection = state;
    body.setAttribute('data-connection', state);
    updateBanner();
  }

  function updateBanner() {
    if (!banner) return;
    if (S.ended) {
      banner.className = 'rc-banner';
    } else if (S.connection === 'stale') {
      bannerTitle.textContent = 'Connection lost — reconnecting…';
      bannerAge.textContent = S.lastLiveAt ? 'Last update ' + fmtAge(now() - S.lastLiveAt) + ' ago' : '';
      banner.className = 'rc-banner rc-banner-on rc-banner-stale';
    } else if (S.connection === 'connecting' && now() - startedAt > 2500) {
      bannerTitle.textContent = config ? 'Connecting to Race Control…' : 'Display link incomplete — open the URL from Race Control';
      bannerAge.textContent = '';
      banner.className = 'rc-banner rc-banner-on rc-banner-connecting';
    } else {
      banner.className = 'rc-banner';
    }
  }

  function send(obj) {
    if (!ws || ws.readyState !== 1) return false;
    try { ws.send(JSON.stringify(obj)); return true; } catch (e) { return false; }
  }

  function connect() {
    reconnectTimer = null;
    if (S.ended) return;
    var my = ++gen;
    var sock;
    try { sock = new WebSocket(wsUrlFrom(config && config.ws_url)); } catch (e) { lost(false); return; }
    ws = sock;
    clearTimeout(openTimer);
    openTimer = setTimeout(function () {
      if (my === gen && sock.readyState !== 1) abandon(false);
    }, OPEN_TIMEOUT_MS);
    sock.onopen = function () {
      if (my !== gen) return;
      clearTimeout(openTimer);
      S.lastMsgAt = now();
      send({
        type: 'resume', after_seq: S.lastSeq, screen_id: S.screenId,
        viewport: [window.innerWidth || 0, window.innerHeight || 0], version: VERSION
      });
    };
    sock.onmessage = function (ev) {
      if (my !== gen) return;
      S.lastMsgAt = now();
      if (S.connection === 'live') S.lastLiveAt = S.lastMsgAt;
      if (typeof ev.data === 'string') handle(ev.data);
    };
    sock.onclose = function (ev) {
      if (my !== gen) return;
      if (ev && ev.code === CLOSED_CODE) { endDisplay(); return; }   // the operator closed the session
      lost(false);
    };
    sock.onerror = function () { /* a close event follows */ };
  }

  // Drop the current socket without waiting for its close handshake (a frozen server may
  // never answer it) and start over.
  function abandon(immediateStale) {
    var s = ws;
    gen++;
    ws = null;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try { s.close(); } catch (e) { /* ignore */ }
    }
    lost(immediateStale);
  }

  function lost(immediateStale) {
    ws = null;
    clearTimeout(openTimer);
    if (S.connection === 'live') {
      if (immediateStale) setConnection('stale');
      else if (!graceTimer) {
        graceTimer = setTimeout(function () {
          graceTimer = null;
          if (S.connection === 'live' && (!ws || ws.readyState !== 1 || now() - S.lastMsgAt > CLOSE_GRACE_MS)) setConnection('stale');
        }, CLOSE_GRACE_MS);
      }
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (reconnectTimer || S.ended) return;
    if (attempts >= PROBE_AFTER) probe();
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempts));
    var delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
    attempts++;
    reconnectTimer = setTimeout(connect, delay);
  }

  // A closed session refuses the WebSocket upgrade with HTTP 410 (the browser only sees 1006),
  // so after a few failed connects ask the page URL itself. Cheap, same-origin, no-store.
  var probing = false;
  function probe() {
    if (probing || !window.fetch || !token) return;
    probing = true;
    window.fetch(window.location.pathname, { method: 'HEAD', cache: 'no-store', credentials: 'omit' })
      .then(function (r) { probing = false; if (r.status === 410) endDisplay(); })
      .catch(function () { probing = false; });
  }

  function stopSocket() {
    var s = ws;
    gen++;
    ws = null;
    clearTimeout(reconnectTimer); reconnectTimer = null;
    clearTimeout(graceTimer); graceTimer = null;
    clearTimeout(openTimer);
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try { s.close(); } catch (e) { /* ignore */ }
    }
  }

  function endDisplay() {
    if (S.ended) return;
    S.ended = true;
    stopSocket();
    if (cardTimer) { clearTimeout(cardTimer); cardTimer = null; }
    stopSlides();
    S.connection = 'ended';
    body.setAttribute('data-connection', 'ended');
    storeSet(STORE_KEY, '');
    updateBanner();
    if (endedEl) endedEl.className = 'rc-ended rc-ended-on';
  }

  // {"type":"switch","url":"/display/<token>"}: this screen now belongs to another session.
  // Only a same-origin display page path is followed; anything else is ignored.
  var SWITCH_PATH = /^\/display\/(?!static\/)[A-Za-z0-9_\-]{8,200}\/?$/;
  function switchTo(url) {
    if (typeof url !== 'string' || url.length > 400 || url.charAt(0) !== '/' || url.charAt(1) === '/' ||
        url.charAt(1) === '\\' || !SWITCH_PATH.test(url)) {
      if (window.console) console.warn('race-control: switch ignored (not a /display/ path)');
      return false;
    }
    var target = window.location.protocol + '//' + window.location.host + url;
    if (url.replace(/\/$/, '') === window.location.pathname.replace(/\/$/, '')) return false;
    S.switching = url;
    persist();
    stopSocket();
    setTimeout(function () { window.location.replace(target); }, Math.floor(Math.random() * 300));
    return true;
  }

  function watchdog() {
    if (S.ended) return;
    if (ws && ws.readyState === 1 && now() - S.lastMsgAt > staleAfter()) {
      abandon(true);           // frozen server: the TCP socket is open but nothing arrives
    }
    tick(false);
  }

  // ---------------------------------------------------------------- messages
  function handle(raw) {
    var m;
    try { m = JSON.parse(raw); } catch (e) { return; }
    if (!isObj(m)) return;
    switch (m.type) {
      case 'hello': onHello(m); break;
      case 'finisher': onFinisher(m); break;
      case 'correction': onCorrection(m); break;
      case 'switch': switchTo(m.url); break;
      case 'ping':
        send({ type: 'pong', t: m.t });
        if (typeof m.t === 'number' && isFinite(m.t)) adjustOffset(m.t - now(), false);
        break;
      case 'caught_up': S.caughtUp = true; break;
      case 'mode':
        if (typeof m.by === 'string') S.modeBy = str(m.by, 40);
        setMode(m.mode);
        break;
      case 'session':
        if (isObj(m.session)) {
          var before = S.mode;
          mergeSession(m.session);
          if (S.session.mode && S.session.mode !== before) setMode(S.session.mode);
          else build();
        }
        break;
      case 'template':
        if (putTemplate(m.template, S.mode)) build();
        break;
      case 'reload': reload(); break;
      case 'leaderboard':
        if (takeBoard(m)) renderBoards();
        break;
      default: break;            // unknown types are ignored (forward compatible)
    }
  }

  function adjustOffset(sample, hard) {
    if (hard || Math.abs(sample - S.offset) > 60000) S.offset = sample;
    else S.offset += (sample - S.offset) * 0.2;
  }

  // The server's leaderboard: top N overall (`entries`) and per division (`divisions`).
  function takeBoard(m) {
    if (!isObj(m) || !Array.isArray(m.entries)) return false;
    S.board = m.entries.filter(isObj).slice(0, 100).map(cleanFinisher);
    S.boardDivisions = {};
    if (isObj(m.divisions)) {
      Object.keys(m.divisions).slice(0, 200).forEach(function (d) {
        if (Array.isArray(m.divisions[d])) {
          S.boardDivisions[d] = m.divisions[d].filter(isObj).slice(0, 100).map(cleanFinisher);
        }
      });
    }
    return true;
  }

  function onHello(m) {
    attempts = 0;
    clearTimeout(graceTimer);
    graceTimer = null;
    if (typeof m.heartbeat_ms === 'number' && m.heartbeat_ms >= 100) S.heartbeat = Math.min(60000, m.heartbeat_ms);
    if (typeof m.server_time === 'number' && isFinite(m.server_time)) adjustOffset(m.server_time - now(), true);
    if (typeof m.last_seq === 'number' && isFinite(m.last_seq) && m.last_seq >= 0 && m.last_seq < S.lastSeq) {
      // The server's history is shorter than ours: the session was reset. Start over from it,
      // or every new finisher would look like a duplicate.
      S.lastSeq = Math.floor(m.last_seq);
      S.lastShown = Math.min(S.lastShown, S.lastSeq);
      S.queue = S.queue.filter(function (f) { return f.seq <= S.lastSeq; });
      persist();
    }
    S.caughtUp = false;
    var rebuild = !view;
    var modeBefore = S.mode;
    if (isObj(m.session)) { mergeSession(m.session); rebuild = true; }
    if (m.template !== undefined && m.template !== null) {
      if (putTemplate(m.template, (isObj(m.session) && m.session.mode) || S.mode)) rebuild = true;
    }
    if (isObj(m.templates)) {
      Object.keys(m.templates).forEach(function (k) { if (putTemplate(m.templates[k], k)) rebuild = true; });
    }
    if (takeBoard(m.leaderboard)) rebuild = true;
    S.everLive = true;
    S.lastLiveAt = now();
    setConnection('live');
    var newMode = oneOf(S.session.mode, ['results', 'pre-race'], S.mode);
    if (newMode !== modeBefore) { S.mode = newMode; rebuild = true; }
    if (rebuild) build();
    pump();
  }

  function validSeq(seq) {
    return typeof seq === 'number' && isFinite(seq) && seq > 0 && Math.floor(seq) === seq;
  }

  function onFinisher(m) {
    var seq = m.seq;
    if (!validSeq(seq)) return;
    if (seq <= S.lastSeq) { S.duplicates++; return; }      // resume overlap / duplicate delivery
    S.lastSeq = seq;
    S.queue.push(cleanFinisher(m));
    if (S.mode !== 'results') setMode('results');          // first finisher ends pre-race
    pump();
  }

  // A finisher shown as "Bib N" (known: false) is now known. It is not a new finisher: the
  // runner is updated wherever it is still visible (queue, card or grid, recent list) in place,
  // without a new card. The correction has its own seq, so resume never replays it twice.
  var PERSONAL = ['bib', 'name', 'first_name', 'last_name', 'city', 'state', 'country', 'division',
    'age', 'gender', 'message', 'known', 'place', 'time'];

  function onCorrection(m) {
    var seq = m.seq, target = m.corrects_seq;
    if (!validSeq(seq)) return;
    if (seq <= S.lastSeq) { S.duplicates++; return; }
    S.lastSeq = seq;
    if (!validSeq(target)) return;
    var fixed = cleanFinisher(m);
    var patch = function (f) {
      if (!f || f.seq !== target) return false;
      PERSONAL.forEach(function (k) { f[k] = fixed[k]; });
      return true;
    };
    var inQueue = false, onScreen = false, inRecent = false;
    S.queue.forEach(function (f) { if (patch(f)) inQueue = true; });
    S.current.forEach(function (f) { if (patch(f)) onScreen = true; });
    S.recent.forEach(function (f) { if (patch(f)) inRecent = true; });
    if (S.board) S.board.forEach(function (f) { if (patch(f)) inRecent = true; });
    if (inQueue || onScreen || inRecent) S.corrections++;
    if (onScreen && S.mode === 'results') {
      if (S.currentKind === 'single') renderSingle(S.current[0], true);
      else if (S.currentKind === 'grid') renderGrid(S.current, true);
    }
    if (inRecent || onScreen) renderBoards();
    // Nothing older is waiting: everything up to this seq is dealt with (a reload resumes after it).
    if (!S.queue.length) S.lastShown = Math.max(S.lastShown, seq);
    persist();
  }

  function reload() {
    persist();
    // Spread reloads of many screens over a second so the server is not hit all at once.
    setTimeout(function () { window.location.reload(); }, Math.floor(Math.random() * 1000));
  }

  // ---------------------------------------------------------------- public API (tests / ops)
  window.raceControl = {
    version: VERSION,
    state: function () {
      return {
        connection: S.connection,
        lastSeq: S.lastSeq,
        lastShown: S.lastShown,
        queued: S.queue.length,
        shown: S.shown.slice(),
        current: S.current.map(function (f) { return f.seq; }),
        view: S.currentKind,
        mode: S.mode,
        duplicates: S.duplicates,
        caughtUp: S.caughtUp,
        corrections: S.corrections,
        modeBy: S.modeBy,
        ended: S.ended,
        portrait: S.portrait,
        switching: S.switching,
        screenId: S.screenId,
        template: view ? view.template.name : null
      };
    }
  };

  // ---------------------------------------------------------------- start
  function start() {
    body.setAttribute('data-connection', 'connecting');
    scaffold();
    build();
    setInterval(watchdog, 250);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) watchdog(); });
    if (token) connect();
    else updateBanner();
  }

  start();
})();
