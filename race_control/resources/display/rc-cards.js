/*
 * Race Control display page — finisher rendering.
 *
 * Holds: the single finisher card, the multi-up grid for bunches, which layer is visible
 * (card / grid / idle) and the leaderboard / recent-finishers boards.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var dom = RC.dom;
  var FINISHER_TYPES = RC.FINISHER_TYPES, GRID_MAX = RC.GRID_MAX, cityState = RC.cityState, el = RC.el, isObj = RC.isObj,
    nameFor = RC.nameFor, num = RC.num, placeText = RC.placeText, str = RC.str, textSpan = RC.textSpan,
    S = RC.S, fitText = RC.fitText;

  // ---------------------------------------------------------------- finisher rendering
  function showKind(kind) {
    dom.body.setAttribute('data-view', kind === 'none' ? (S.mode === 'results' ? 'idle' : 'pre-race') : kind);
    dom.cardLayer.style.visibility = kind === 'single' ? 'visible' : 'hidden';
    dom.gridLayer.style.visibility = kind === 'grid' ? 'visible' : 'hidden';
    dom.idleEl.style.visibility = (kind === 'none' && S.mode === 'results') ? 'visible' : 'hidden';
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

  // the REPLAY badge: on while the finish (or any card of the grid) on screen is replayed, or
  // while the session replays a stored race (`hello`/`replay` messages: S.replay)
  var cardReplay = false;
  function markReplay(on) {
    cardReplay = on;
    var replaying = S.replay !== null;
    if (on || replaying) dom.body.setAttribute('data-replay', replaying && S.replay.paused ? 'paused' : '1');
    else dom.body.removeAttribute('data-replay');
    if (dom.replayBadge) dom.replayBadge.textContent = replaying && S.replay.paused ? 'REPLAY \u00b7 PAUSED' : 'REPLAY';
  }

  // {"replay_id", "speed", "paused"} of the session's running replay, or null
  function setReplay(r) {
    S.replay = isObj(r) ? { id: str(r.replay_id, 64), speed: typeof r.speed === 'number' ? r.speed : 0, paused: r.paused === true } : null;
    markReplay(cardReplay);
  }

  function renderSingle(f, quiet) {
    if (!RC.view) return;
    markReplay(f.replay === true);
    var usedRotate = false;
    RC.view.blocks.forEach(function (rec) {
      if (FINISHER_TYPES.indexOf(rec.type) < 0) return;
      var sp = rec.spec, text = '';
      switch (rec.type) {
        case 'name': text = nameFor(f, sp.part); break;
        case 'bib': text = f.bib ? str(sp.prefix, 20) + f.bib : ''; break;
        case 'time': text = f.time; break;
        case 'city_state': text = cityState(f); break;
        case 'division': text = f.division; break;
        case 'team': text = f.team || str(sp.empty_text, 80); break;
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
      fitText(rec.inner, rec.el, rec.style.size, lines, rec.type === 'name' ? 0.3 : 0.45, rec.style.overflow);
    });
    if (usedRotate) S.messageIndex++;
    showKind('single');
    if (!quiet) animate(dom.cardLayer);
  }

  function renderGrid(list, quiet) {
    if (!RC.view) return;
    markReplay(list.some(function (f) { return f.replay === true; }));
    var g = RC.view.grid, t = RC.view.template;
    dom.gridLayer.textContent = '';
    var max = g.max || GRID_MAX, asList = g.layout === 'list';
    list = list.slice(0, max);
    var cols, rows;
    if (asList) {
      // a list: one row per finisher, the page's `max` rows (rows do not jump around)
      cols = 1;
      rows = max;
    } else {
      cols = Math.max(1, Math.min(g.columns || 2, list.length));
      // Up to 4 cards: big 2x2; more: the full page of `max` cards so card sizes do not jump around.
      rows = list.length <= 4 ? Math.ceil(list.length / cols) : Math.ceil(max / cols);
      rows = Math.max(rows, Math.ceil(list.length / cols));
    }
    var gap = asList ? Math.min(18, Math.round(g.h / max * 0.12)) : 18;
    var cw = (g.w - gap * (cols - 1)) / cols;
    var ch = (g.h - gap * (rows - 1)) / rows;
    var padY = Math.round(Math.min(24, ch * 0.09));
    var nameH = Math.round((ch - 2 * padY) * (asList ? 0.9 : 0.56));
    var infoH = Math.round((ch - 2 * padY) * (asList ? 0.9 : 0.40));
    var nameW = asList ? Math.round((cw - 60) * 0.5) : 0;   // a row: name | bib city time
    var nameSize = Math.round(Math.min(nameH * 0.8, (asList ? nameW * 2 : cw) * 0.1));
    var infoSize = Math.round(Math.min(infoH * (asList ? 0.55 : 0.62), cw * 0.07));
    list.forEach(function (f, i) {
      var c = i % cols, r = Math.floor(i / cols);
      var card = el('div', 'rc-mini' + (asList ? ' rc-mini-row' : ''));
      card.style.left = (g.x + c * (cw + gap)) + 'px';
      card.style.top = (g.y + r * (ch + gap)) + 'px';
      card.style.width = cw + 'px';
      card.style.height = ch + 'px';
      card.style.paddingTop = card.style.paddingBottom = padY + 'px';
      card.style.setProperty('--rc-delay', (i * 45) + 'ms');
      card.style.borderLeftColor = t.theme.accent;

      var nm = el('div', 'rc-mini-name' + (f.known ? '' : ' rc-unknown'));
      nm.style.height = nameH + 'px';
      if (asList) nm.style.width = nameW + 'px';
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
      dom.gridLayer.appendChild(card);
      fitText(nspan, nm, nameSize, 1, 0.45);
      fitText(cspan, city, infoSize, 1, 0.6);   // shrink a long city a little before the ellipsis
    });
    showKind('grid');
    if (!quiet) animate(dom.gridLayer);
    else dom.gridLayer.classList.remove('rc-enter');
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
    if (!RC.view) return;
    RC.view.blocks.forEach(function (rec) {
      if (rec.type === 'recent') { renderRecent(rec); return; }
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

  // The `recent` block: the last N finishers, newest first, one line each (place, bib, name, time).
  function renderRecent(rec) {
    rec.list.textContent = '';
    var entries = S.recent.slice(0, rec.rows);
    var rowH = Math.max(10, (rec.el.clientHeight - (rec.list.previousSibling ? rec.style.size * 1.9 : 0) - 8) / rec.rows);
    entries.forEach(function (e, i) {
      var row = el('div', 'rc-recent-row' + (i === 0 ? ' rc-row-new' : ''));
      row.style.height = rowH + 'px';
      row.style.lineHeight = rowH + 'px';
      var span = textSpan();
      span.textContent = [placeText(e), e.bib ? '#' + e.bib : '', nameFor(e), e.time].filter(Boolean).join('  ');
      row.appendChild(span);
      rec.list.appendChild(row);
    });
    if (!entries.length) rec.list.appendChild(el('div', 'rc-board-empty', str(rec.spec.empty_text, 80) || 'No finishers yet'));
  }

  // ---------------------------------------------------------------- exports
  RC.redrawCurrent = redrawCurrent;
  RC.renderBoards = renderBoards;
  RC.renderGrid = renderGrid;
  RC.renderSingle = renderSingle;
  RC.setReplay = setReplay;
  RC.showKind = showKind;
})();
