/*
 * Race Control display page — the link to the server.
 *
 * Holds: the WebSocket (resume after the last seq, heartbeat watchdog, stale banner,
 * reconnect with backoff + jitter, open timeout), the ended screen (close code 4410 / HTTP 410
 * probe), the refused screen (close code 4429: too many screens; retried slowly), `switch`
 * to another session, `reload`, and the message dispatcher.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var dom = RC.dom;
  var VERSION = RC.VERSION, cleanFinisher = RC.cleanFinisher, fmtAge = RC.fmtAge, isObj = RC.isObj,
    now = RC.now, oneOf = RC.oneOf, storeSet = RC.storeSet, str = RC.str, S = RC.S, STORE_KEY = RC.STORE_KEY,
    config = RC.config, mergeSession = RC.mergeSession, persist = RC.persist, token = RC.token,
    putTemplate = RC.putTemplate, renderBoards = RC.renderBoards, build = RC.build,
    stopSlides = RC.stopSlides, tick = RC.tick, onCorrection = RC.onCorrection, onFinisher = RC.onFinisher,
    pump = RC.pump, setMode = RC.setMode, stopCards = RC.stopCards;

  var STALE_CAP_MS = 8000;       // never wait longer than this for a message before going stale
  var CLOSE_GRACE_MS = 1500;     // socket closed: how long a quick reconnect may hide the banner
  var OPEN_TIMEOUT_MS = 5000;    // a socket stuck in CONNECTING is abandoned after this
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 5000;
  var CLOSED_CODE = 4410;        // WebSocket close code: the display session was closed (page answers 410)
  var FULL_CODE = 4429;          // WebSocket close code: too many screens on this session or address
  var FULL_RETRY_MS = 30000;     // a refused screen asks again this often (a place may free up)
  var PROBE_AFTER = 2;           // failed connects in a row before asking the page URL whether it still exists

  function wsUrlFrom(cfgUrl) {
    var u = (typeof cfgUrl === 'string' && cfgUrl) ? cfgUrl : '/display/' + encodeURIComponent(token) + '/ws';
    if (/^wss?:\/\//i.test(u)) return u;
    var proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (u.charAt(0) !== '/') u = '/' + u;
    return proto + '//' + window.location.host + u;
  }

  // ---------------------------------------------------------------- connection
  var ws = null, gen = 0, attempts = 0, reconnectTimer = null, graceTimer = null, openTimer = null;
  var startedAt = now();

  function staleAfter() { return Math.min(STALE_CAP_MS, Math.max(3000, 3 * S.heartbeat)); }

  function setConnection(state) {
    if (S.connection === state) return;
    S.connection = state;
    dom.body.setAttribute('data-connection', state);
    updateBanner();
  }

  function updateBanner() {
    if (!dom.banner) return;
    if (S.ended) {
      dom.banner.className = 'rc-banner';
    } else if (S.connection === 'full') {
      dom.bannerTitle.textContent = 'Too many screens are connected to this display — retrying every 30 s';
      dom.bannerAge.textContent = '';
      dom.banner.className = 'rc-banner rc-banner-on rc-banner-full';
    } else if (S.connection === 'stale') {
      dom.bannerTitle.textContent = 'Connection lost — reconnecting…';
      dom.bannerAge.textContent = S.lastLiveAt ? 'Last update ' + fmtAge(now() - S.lastLiveAt) + ' ago' : '';
      dom.banner.className = 'rc-banner rc-banner-on rc-banner-stale';
    } else if (S.connection === 'connecting' && now() - startedAt > 2500) {
      dom.bannerTitle.textContent = config ? 'Connecting to Race Control…' : 'Display link incomplete — open the URL from Race Control';
      dom.bannerAge.textContent = '';
      dom.banner.className = 'rc-banner rc-banner-on rc-banner-connecting';
    } else {
      dom.banner.className = 'rc-banner';
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
      var resume = {
        type: 'resume', after_seq: S.lastSeq, screen_id: S.screenId,
        viewport: [window.innerWidth || 0, window.innerHeight || 0], version: VERSION
      };
      if (S.epoch) resume.epoch = S.epoch;   // our seqs' epoch: a new one may rewind us
      send(resume);
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
      if (ev && ev.code === FULL_CODE) { refused(); return; }         // over a screens cap
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

  // The server has as many screens as it takes (per session or per address): say so and ask
  // again slowly, without the backoff's quick first attempts.
  function refused() {
    ws = null;
    clearTimeout(openTimer);
    clearTimeout(graceTimer); graceTimer = null;
    setConnection('full');
    if (!reconnectTimer && !S.ended) reconnectTimer = setTimeout(connect, FULL_RETRY_MS * (0.75 + Math.random() * 0.5));
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
    stopCards();
    stopSlides();
    S.connection = 'ended';
    dom.body.setAttribute('data-connection', 'ended');
    storeSet(STORE_KEY, '');
    updateBanner();
    if (dom.endedEl) dom.endedEl.className = 'rc-ended rc-ended-on';
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
      case 'caught_up': S.caughtUp = true; adoptEpoch(); break;
      case 'rewind': onRewind(m); break;
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
      case 'replay': RC.setReplay(m.replay); break;
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
    // ours once this connection's resume is answered (`rewind` / `caught_up`): a link lost
    // before that resumes with the epoch our seqs came from
    S.nextEpoch = typeof m.epoch === 'string' ? m.epoch.slice(0, 64) : '';
    var rebuild = !RC.view;
    var modeBefore = S.mode;
    if (isObj(m.session)) { mergeSession(m.session); rebuild = true; }
    if (m.template !== undefined && m.template !== null) {
      if (putTemplate(m.template, (isObj(m.session) && m.session.mode) || S.mode)) rebuild = true;
    }
    if (isObj(m.templates)) {
      Object.keys(m.templates).forEach(function (k) { if (putTemplate(m.templates[k], k)) rebuild = true; });
    }
    if (takeBoard(m.leaderboard)) rebuild = true;
    RC.setReplay(m.replay);       // a screen opened mid-replay shows the badge at once
    S.everLive = true;
    S.lastLiveAt = now();
    setConnection('live');
    var newMode = oneOf(S.session.mode, ['results', 'pre-race'], S.mode);
    if (newMode !== modeBefore) { S.mode = newMode; rebuild = true; }
    if (rebuild) build();
    pump();
  }

  // The seqs after `after_seq` we hold may be other finishers than the server's (it lost the
  // end of its history): forget them, and take the replay that follows in their place.
  function onRewind(m) {
    var after = m.after_seq;
    if (typeof after !== 'number' || !isFinite(after) || after < 0) return;
    after = Math.floor(after);
    if (after < S.lastSeq) {
      S.lastSeq = after;
      S.lastShown = Math.min(S.lastShown, after);
      S.queue = S.queue.filter(function (f) { return f.seq <= after; });
      S.recent = S.recent.filter(function (f) { return f.seq <= after; });
      renderBoards();
    }
    adoptEpoch();
  }

  function adoptEpoch() {
    if (S.nextEpoch && S.nextEpoch !== S.epoch) { S.epoch = S.nextEpoch; persist(); }
  }

  function reload() {
    persist();
    // Spread reloads of many screens over a second so the server is not hit all at once.
    setTimeout(function () { window.location.reload(); }, Math.floor(Math.random() * 1000));
  }

  // ---------------------------------------------------------------- exports
  RC.connect = connect;
  RC.send = send;
  RC.updateBanner = updateBanner;
  RC.watchdog = watchdog;
})();
