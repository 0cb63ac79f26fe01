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

  function show(doc, finishers, kind, session) {
    var t = JSON.parse(JSON.stringify(doc));
    t.format = RC.FORMAT;
    S.templates = {};
    S.mode = t.mode === 'pre-race' ? 'pre-race' : 'results';
    if (!RC.putTemplate(t, S.mode)) return false;
    RC.mergeSession(session || {});
    var clean = (finishers || []).map(function (f, i) {
      var c = RC.cleanFinisher(f);
      c.seq = i + 1;
      return c;
    });
    S.recent = clean.slice().reverse();
    S.current = kind === 'grid' ? clean : clean.slice(0, 1);
    S.currentKind = clean.length ? (kind === 'grid' ? 'grid' : 'single') : 'none';
    S.connection = 'live';                      // a canvas is never "connecting": no banner
    document.body.setAttribute('data-connection', 'live');
    RC.build();
    RC.updateBanner();
    return true;
  }

  window.rcBuilderCanvas = { show: show };
})();
