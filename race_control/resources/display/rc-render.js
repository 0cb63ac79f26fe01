/*
 * Race Control display page — building the view.
 *
 * Holds: build() (the whole stage from the active template), static blocks (text, image,
 * clock, countdown, leaderboard, slides), the slide rotation and the clock/countdown tick.
 */
(function () {
  'use strict';

  var RC = window.RC;
  var dom = RC.dom;
  var FINISHER_TYPES = RC.FINISHER_TYPES, el = RC.el, fmtCountdown = RC.fmtCountdown,
    fmtElapsed = RC.fmtElapsed, isObj = RC.isObj, now = RC.now, num = RC.num, oneOf = RC.oneOf,
    safeImage = RC.safeImage, str = RC.str, textSpan = RC.textSpan, S = RC.S,
    activeTemplate = RC.activeTemplate, portraitOf = RC.portraitOf, wantsPortrait = RC.wantsPortrait,
    applyBox = RC.applyBox, applyStyle = RC.applyStyle, fitText = RC.fitText, layoutStage = RC.layoutStage,
    redrawCurrent = RC.redrawCurrent, renderBoards = RC.renderBoards, showKind = RC.showKind;

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
    dom.staticLayer.textContent = '';
    dom.cardLayer.textContent = '';
    dom.gridLayer.textContent = '';
    dom.idleEl.textContent = '';
    RC.view = { template: t, blocks: [], grid: null };

    var rs = document.documentElement.style;
    rs.setProperty('--rc-bg', t.theme.background);
    rs.setProperty('--rc-fg', t.theme.foreground);
    rs.setProperty('--rc-accent', t.theme.accent);
    dom.stage.style.fontFamily = t.theme.font;
    dom.root.style.backgroundColor = t.theme.background;   // letterbox blends with the canvas
    dom.stage.style.backgroundColor = t.theme.background;
    dom.stage.style.color = t.theme.foreground;
    dom.stage.style.backgroundImage = t.theme.background_image ? 'url("' + t.theme.background_image.replace(/["\\]/g, '') + '")' : '';
    dom.body.setAttribute('data-mode', S.mode);
    layoutStage();

    var finisherBoxes = [];
    t.blocks.forEach(function (b) {
      var box = el('div', 'rc-block rc-' + b.type.replace('_', '-'));
      applyBox(box, b);
      applyStyle(box, b.style, t.theme);
      var rec = { type: b.type, el: box, spec: b.spec, style: b.style, inner: null };
      var isFinisher = FINISHER_TYPES.indexOf(b.type) >= 0;
      (isFinisher ? dom.cardLayer : dom.staticLayer).appendChild(box);
      if (isFinisher) {
        finisherBoxes.push(b);
        rec.inner = textSpan(b.type === 'name' ? 'rc-name' : '');
        box.appendChild(rec.inner);
      } else {
        buildStatic(rec, t);
      }
      RC.view.blocks.push(rec);
    });

    var g = t.grid;
    if (!g) g = boundingBox(finisherBoxes) || { x: 56, y: 150, w: 1328, h: 874 };
    var burst = t.burst || { max: RC.GRID_MAX, layout: 'cards', dwell_ms: 0, columns: 2 };
    RC.view.grid = { x: g.x, y: g.y, w: g.w, h: g.h, columns: g.columns || burst.columns,
      max: burst.max, layout: burst.layout, dwell_ms: burst.dwell_ms };
    applyBox(dom.idleEl, RC.view.grid);
    var idleTitle = el('div', 'rc-idle-title', t.idle_text || 'Waiting for finishers');
    var idleSub = el('div', 'rc-idle-sub', S.session.event_name || '');
    idleTitle.setAttribute('dir', 'auto');
    idleSub.setAttribute('dir', 'auto');
    dom.idleEl.appendChild(idleTitle);
    dom.idleEl.appendChild(idleSub);

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

  // a list block (leaderboard, recent finishers): its optional title, then the list its rows fill
  function boardBox(rec, sp, st, t) {
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
  }

  function buildStatic(rec, t) {
    var sp = rec.spec, st = rec.style;
    switch (rec.type) {
      case 'text': {
        rec.inner = textSpan();
        rec.el.appendChild(rec.inner);
        rec.inner.textContent = substitute(str(sp.text, 1000));
        rec.lines = Math.round(num(sp.lines, 1, 6, 1));
        fitText(rec.inner, rec.el, st.size, rec.lines, 0.4, st.overflow);
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
        boardBox(rec, sp, st, t);
        break;
      }
      case 'recent': {
        rec.rows = Math.round(num(sp.rows, 1, 20, 5));
        boardBox(rec, sp, st, t);
        break;
      }
      case 'qr': {
        // the screen's own URL as a QR code, drawn by this server (RC.qrSrc: display.js or the builder canvas)
        if (!RC.qrSrc) { rec.el.style.display = 'none'; break; }
        var qr = el('img', 'rc-img rc-qr-img');
        qr.alt = str(sp.alt, 200) || 'QR code of this screen';
        qr.draggable = false;
        qr.style.objectFit = 'contain';
        qr.src = RC.qrSrc;
        rec.el.appendChild(qr);
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


  // ---------------------------------------------------------------- clocks (every 250 ms)
  function serverNow() { return now() + S.offset; }

  function tick(force) {
    if (RC.view) {
      var t = serverNow();
      RC.view.blocks.forEach(function (rec) {
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
          if (relayout) fitText(rec.inner, rec.el, rec.style.size, 1, 0.3, rec.style.overflow);
        }
      });
    }
    RC.updateBanner();
  }

  // ---------------------------------------------------------------- exports
  RC.build = build;
  RC.stopSlides = stopSlides;
  RC.tick = tick;
})();
