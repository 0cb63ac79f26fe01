/*
 * Race Control display page — the finisher queue.
 *
 * Holds: the queue of finishers waiting (seq is the only identity; duplicates dropped), the
 * dwell rules (shorter as the queue grows; a multi-up grid drains bunches), `rendered` acks
 * after paint, mode switching and corrections of "Bib N" finishers in place.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var GRID_MAX = RC.GRID_MAX, RECENT_KEEP = RC.RECENT_KEEP, cleanFinisher = RC.cleanFinisher, now = RC.now,
    oneOf = RC.oneOf, S = RC.S, persist = RC.persist, renderBoards = RC.renderBoards,
    renderGrid = RC.renderGrid, renderSingle = RC.renderSingle, build = RC.build;

  var GRID_MIN_WAITING = 4;      // >= this many waiting -> multi-up grid
  var CALM_DWELL_MS = 4000;      // single card, nobody waiting
  var MIN_DWELL_MS = 1200;       // single card, queue building up
  var SHOWN_KEEP = 20000;        // seqs kept for state().shown

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

  // the template's burst (grid.max cards a page, grid.dwell_s a page; rc-template.js cleanBurst)
  function burst() {
    var g = RC.view && RC.view.grid;
    return { max: (g && g.max) || GRID_MAX, dwell: (g && g.dwell_ms) || 0 };
  }

  function currentDwell() {
    if (S.currentKind === 'grid') return burst().dwell || gridDwell(S.current.length, S.queue.length);
    return singleDwell(S.queue.length);
  }

  function schedule(ms) {
    if (cardTimer) clearTimeout(cardTimer);
    cardTimer = setTimeout(function () { cardTimer = null; pump(); }, Math.max(0, ms));
  }

  function pump() {
    if (S.mode !== 'results' || !RC.view || !S.queue.length) return;
    if (S.currentKind !== 'none' && S.shownAt) {
      var wait = currentDwell() - (now() - S.shownAt);
      if (wait > 0) { schedule(wait); return; }
    }
    showNext();
  }

  function showNext() {
    var batch, max = burst().max;
    if (S.queue.length >= Math.min(GRID_MIN_WAITING, max)) {
      batch = S.queue.splice(0, Math.min(max, S.queue.length));
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
      seqs.forEach(function (seq) { RC.send({ type: 'rendered', seq: seq, at: at, server_at: at + Math.round(S.offset) }); });
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

  function stopCards() {
    if (cardTimer) { clearTimeout(cardTimer); cardTimer = null; }
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

  // ---------------------------------------------------------------- exports
  RC.onCorrection = onCorrection;
  RC.onFinisher = onFinisher;
  RC.pump = pump;
  RC.setMode = setMode;
  RC.stopCards = stopCards;
})();
