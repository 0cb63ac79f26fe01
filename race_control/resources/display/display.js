/*
 * Race Control display page (served at GET /display/{token}).
 *
 * Why it looks like this:
 *  - Plain ES2015 without a build step, so it runs offline on old smart-TV browsers
 *    (no optional chaining, no class fields, no modules).
 *  - Escaped by construction: every piece of participant or template
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
 *
 * This file only wires the modules (loaded before it, in order, by page.html): rc-util,
 * rc-state, rc-template, rc-stage, rc-cards, rc-render, rc-queue, rc-link. They share state
 * through the window.RC namespace. Here: load the config, restore, expose window.raceControl
 * and start.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var dom = RC.dom;
  var VERSION = RC.VERSION, S = RC.S, loadConfig = RC.loadConfig, restore = RC.restore, token = RC.token,
    scaffold = RC.scaffold, build = RC.build, connect = RC.connect, updateBanner = RC.updateBanner,
    watchdog = RC.watchdog;

  loadConfig();
  restore();

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
        replay: S.replay ? { id: S.replay.id, speed: S.replay.speed, paused: S.replay.paused } : null,
        template: RC.view ? RC.view.template.name : null
      };
    }
  };

  // ---------------------------------------------------------------- start
  function start() {
    dom.body.setAttribute('data-connection', 'connecting');
    scaffold();
    if (token) RC.qrSrc = '/display/' + encodeURIComponent(token) + '/qr.svg';   // a qr block (qr_routes.py)
    build();
    // the bundled fonts (fonts.css) arrive after the first build, and a right-to-left face only
    // when such a name first shows: draw again so every text is fitted with the real glyphs
    if (document.fonts && document.fonts.addEventListener) {
      document.fonts.addEventListener('loadingdone', function () { if (RC.view) build(); });
    }
    setInterval(watchdog, 250);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) watchdog(); });
    if (token) connect();
    else updateBanner();
  }

  start();
})();
