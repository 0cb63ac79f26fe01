/*
 * Race Control template builder — inside the canvas frame (/builder/canvas).
 *
 * The frame runs the display page's own scripts (no session, no socket: display.js does not
 * connect without a token). This file only hands them a template and sample finishers:
 * putTemplate() cleans the template exactly as a screen does, build() lays it out, and the
 * page's redrawCurrent() renders the finishers through renderSingle()/renderGrid().
 */
(function () {
  'use strict';

  var RC = window.RC;
  var S = RC.S;
  RC.qrSrc = '/builder/qr.svg';       // a qr block's sample: the builder's preview URL (a screen shows its own)

  // `finishers` are on the card (or the grid, kind 'grid'); `earlier` finished before them
  // (oldest first) and fill the recent-finishers list behind them, as on a screen mid-race.
  // `mode`: the layout drawn (the builder's mode switch; none: the template's own mode). A
  // mode the template does not lay out draws the page's built-in for it, as a screen would.
  function show(doc, finishers, kind, session, earlier, mode) {
    var t = JSON.parse(JSON.stringify(doc));
    t.format = RC.FORMAT;
    S.templates = {};
    var own = t.mode === 'pre-race' ? 'pre-race' : 'results';
    S.mode = mode === 'pre-race' || mode === 'results' ? mode : own;
    if (!RC.putTemplate(t, own)) return false;
    // a burst shows grid.max finishers at once (rc-queue.js): the rest wait for the next page
    var burst = RC.activeTemplate().burst;
    var max = burst ? burst.max : RC.GRID_MAX;
    RC.mergeSession(session || {});
    var seq = 0;
    var clean = function (f) {
      var c = RC.cleanFinisher(f);
      c.seq = ++seq;
      return c;
    };
    var before = (earlier || []).map(clean);
    var now = (finishers || []).map(clean);
    if (kind === 'grid') now = now.slice(0, max);
    S.recent = now.slice().reverse().concat(before.slice().reverse());
    S.current = kind === 'grid' ? now : now.slice(0, 1);
    S.currentKind = now.length ? (kind === 'grid' ? 'grid' : 'single') : 'none';
    S.messageIndex = 0;                         // a redraw shows the same rotating message
    S.connection = 'live';                      // a canvas is never "connecting": no banner
    document.body.setAttribute('data-connection', 'live');
    RC.build();
    RC.updateBanner();
    return true;
  }

  window.rcBuilderCanvas = { show: show };
})();
