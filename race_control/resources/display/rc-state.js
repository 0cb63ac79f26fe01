/*
 * Race Control display page — config and state.
 *
 * Holds: the embedded config (<script id="rc-config">), the display token and its storage key,
 * the state object S shared by every module, the current view (RC.view, set by build()),
 * persistence across reloads (persist/restore) and session merging.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var RECENT_KEEP = RC.RECENT_KEEP, cleanFinisher = RC.cleanFinisher, isObj = RC.isObj, oneOf = RC.oneOf,
    randomId = RC.randomId, storeGet = RC.storeGet, storeSet = RC.storeSet, str = RC.str;

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
    switching: '',         // path this screen is navigating to after a `switch`
    epoch: '',             // the server's epoch our seqs belong to (sent back in `resume`)
    nextEpoch: '',         // the epoch of this connection's hello, ours once the resume is answered
    replay: null           // the session's running replay {id, speed, paused} (hello / `replay`), or null
  };

  S.screenId = storeGet('rc.screen_id') || '';
  if (!/^[0-9a-z]{8,64}$/i.test(S.screenId)) {
    S.screenId = randomId();
    storeSet('rc.screen_id', S.screenId);
  }

  // The config's session and templates (called once by display.js, before restore()).
  function loadConfig() {
    if (config && isObj(config.session)) mergeSession(config.session);
    if (config) {
      if (isObj(config.templates)) {
        Object.keys(config.templates).forEach(function (k) { RC.putTemplate(config.templates[k], k); });
      }
      RC.putTemplate(config.template, null);
    }
    S.mode = oneOf(S.session.mode, ['results', 'pre-race'], 'results');
  }

  // Resume after the last finisher shown before a reload.
  function restore() {
    var raw = storeGet(STORE_KEY);
    if (!raw) return;
    try {
      var saved = JSON.parse(raw);
      if (isObj(saved) && typeof saved.lastShown === 'number' && saved.lastShown >= 0) {
        S.lastShown = S.lastSeq = Math.floor(saved.lastShown);
        if (typeof saved.epoch === 'string') S.epoch = saved.epoch.slice(0, 64);
        if (Array.isArray(saved.recent)) S.recent = saved.recent.filter(isObj).slice(0, RECENT_KEEP).map(cleanFinisher);
      }
    } catch (e) { /* ignore */ }
  }

  function persist() {
    var recent = S.recent.slice(0, 12);
    storeSet(STORE_KEY, JSON.stringify({ lastShown: S.lastShown, recent: recent, epoch: S.epoch }));
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

  RC.view = null;        // { template, blocks: [{type, el, inner, spec, style}], grid }

  // ---------------------------------------------------------------- exports
  RC.S = S;
  RC.STORE_KEY = STORE_KEY;
  RC.config = config;
  RC.loadConfig = loadConfig;
  RC.mergeSession = mergeSession;
  RC.persist = persist;
  RC.restore = restore;
  RC.token = token;
})();
