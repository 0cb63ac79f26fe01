/*
 * Race Control display page — shared helpers (loaded first; creates the namespace).
 *
 * Every display script is a plain ES2015 IIFE sharing state through ONE namespace object,
 * window.RC, created here. Load order (page.html): rc-util, rc-state, rc-template, rc-stage,
 * rc-cards, rc-render, rc-queue, rc-link, display.
 *
 * Holds: limits and block types, the validators every piece of wire/template data passes
 * through (str/num/oneOf, colours, fonts, images), sessionStorage access, DOM element helpers
 * (el/textSpan: text only ever goes in through textContent), text formatting and finisher
 * cleaning. See display.js for why the page looks like this, docs/display-protocol.md for the
 * protocol.
 */
(function () {
  'use strict';

  var RC = window.RC = {};

  var FORMAT = 'race-control/template@1';
  var VERSION = '1';
  var MAX_TEXT = 500;            // longest string kept from the wire (DOM stays small)
  var GRID_MAX = 8;              // cards per grid page
  var RECENT_KEEP = 50;
  var BLOCK_TYPES = ['name', 'bib', 'time', 'city_state', 'message', 'division', 'place', 'clock',
    'countdown', 'leaderboard', 'text', 'image', 'slides', 'team', 'recent', 'qr'];
  var FINISHER_TYPES = ['name', 'bib', 'time', 'city_state', 'message', 'division', 'place', 'team'];

  // the bundled fonts (race_control/templates/fonts.py; /display/fonts/fonts.css declares their files)
  var FONT_STACKS = {
    'inter': "'Inter', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'barlow-condensed': "'Barlow Condensed', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Arial Narrow', 'Liberation Sans Narrow', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'oswald': "'Oswald', 'Noto Sans Arabic', 'Noto Sans Hebrew', Impact, 'Arial Narrow', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'roboto-mono': "'Roboto Mono', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'DejaVu Sans Mono', 'Liberation Mono', Consolas, monospace",
    'display': "'Inter', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'body': "'Inter', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'mono': "'Inter', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
    'condensed': "'Barlow Condensed', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Arial Narrow', 'Liberation Sans Narrow', 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"
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

  // ---------------------------------------------------------------- DOM elements (text via textContent only)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function textSpan(cls) {
    var s = el('span', 'rc-t' + (cls ? ' ' + cls : ''));
    s.setAttribute('dir', 'auto');      // plus unicode-bidi: isolate in CSS
    return s;
  }

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
      team: str(m.team, 200),
      age: (typeof m.age === 'number' && isFinite(m.age)) ? m.age : null,
      gender: str(m.gender, 20),
      message: str(m.message),
      known: m.known !== false,
      place: (typeof m.place === 'number' || typeof m.place === 'string') ? m.place : null,
      read_at: (typeof m.read_at === 'number' && isFinite(m.read_at)) ? m.read_at : null,
      replay: m.replay === true    // a replayed finish (docs/display-protocol.md): the REPLAY badge
    };
  }

  // ---------------------------------------------------------------- exports
  RC.BLOCK_TYPES = BLOCK_TYPES;
  RC.FINISHER_TYPES = FINISHER_TYPES;
  RC.FONT_STACKS = FONT_STACKS;
  RC.FORMAT = FORMAT;
  RC.GRID_MAX = GRID_MAX;
  RC.RECENT_KEEP = RECENT_KEEP;
  RC.VERSION = VERSION;
  RC.cityState = cityState;
  RC.cleanFinisher = cleanFinisher;
  RC.el = el;
  RC.fmtAge = fmtAge;
  RC.fmtCountdown = fmtCountdown;
  RC.fmtElapsed = fmtElapsed;
  RC.isObj = isObj;
  RC.nameFor = nameFor;
  RC.now = now;
  RC.num = num;
  RC.oneOf = oneOf;
  RC.placeText = placeText;
  RC.randomId = randomId;
  RC.safeColor = safeColor;
  RC.safeFont = safeFont;
  RC.safeImage = safeImage;
  RC.storeGet = storeGet;
  RC.storeSet = storeSet;
  RC.str = str;
  RC.textSpan = textSpan;
})();
