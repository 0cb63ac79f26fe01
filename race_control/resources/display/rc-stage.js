/*
 * Race Control display page — the stage.
 *
 * Holds: the DOM scaffolding (RC.dom: root, stage, layers, idle box, banner, ended screen),
 * scaling the template canvas to the viewport (letterbox), block box/style application and
 * text fitting (shrink, wrap, clamp).
 */
(function () {
  'use strict';

  var RC = window.RC;
  var el = RC.el, S = RC.S, wantsPortrait = RC.wantsPortrait;

  // ---------------------------------------------------------------- DOM scaffolding
  // Filled by scaffold(); document.body exists (the scripts are deferred).
  var dom = {
    body: document.body,
    root: null, stage: null, staticLayer: null, cardLayer: null, gridLayer: null, idleEl: null,
    banner: null, bannerTitle: null, bannerAge: null, endedEl: null
  };

  function scaffold() {
    dom.root = el('div', 'rc-root');
    dom.root.id = 'rc-root';
    dom.stage = el('div', 'rc-stage');
    dom.stage.id = 'rc-stage';
    dom.staticLayer = el('div', 'rc-layer rc-static');
    dom.cardLayer = el('div', 'rc-layer rc-card');
    dom.cardLayer.setAttribute('aria-live', 'polite');
    dom.gridLayer = el('div', 'rc-layer rc-grid');
    dom.idleEl = el('div', 'rc-idle');
    dom.banner = el('div', 'rc-banner');
    dom.banner.id = 'rc-banner';
    dom.banner.setAttribute('role', 'status');
    var dot = el('span', 'rc-banner-dot');
    dom.bannerTitle = el('span', 'rc-banner-title', 'Connection lost — reconnecting…');
    dom.bannerAge = el('span', 'rc-banner-age', '');
    dom.banner.appendChild(dot);
    dom.banner.appendChild(dom.bannerTitle);
    dom.banner.appendChild(dom.bannerAge);
    dom.stage.appendChild(dom.staticLayer);
    dom.stage.appendChild(dom.cardLayer);
    dom.stage.appendChild(dom.gridLayer);
    dom.stage.appendChild(dom.idleEl);
    dom.stage.appendChild(dom.banner);
    // shown while the finish on screen is a replay of stored reads (rc-cards.js markReplay)
    dom.replayBadge = el('div', 'rc-replay-badge', 'REPLAY');
    dom.replayBadge.setAttribute('aria-label', 'replay of a stored race, not live');
    dom.stage.appendChild(dom.replayBadge);
    dom.root.appendChild(dom.stage);
    // Outside the stage: plain, viewport-sized, readable on any screen without the template.
    dom.endedEl = el('div', 'rc-ended');
    dom.endedEl.id = 'rc-ended';
    dom.endedEl.setAttribute('role', 'status');
    var endedBox = el('div', 'rc-ended-box');
    endedBox.appendChild(el('div', 'rc-ended-title', 'This display has ended'));
    endedBox.appendChild(el('div', 'rc-ended-sub', 'The timer closed this display session. Thank you for watching!'));
    dom.endedEl.appendChild(endedBox);
    dom.root.appendChild(dom.endedEl);
    var old = document.getElementById('rc-root');
    if (old && old.parentNode) old.parentNode.removeChild(old);
    dom.body.appendChild(dom.root);
    window.addEventListener('resize', layoutStage);
    if (window.visualViewport) window.visualViewport.addEventListener('resize', layoutStage);
  }

  function layoutStage() {
    if (!RC.view) return;
    var base = RC.view.template.portraitOf || RC.view.template;
    if (wantsPortrait(base) !== S.portrait) { RC.build(); return; }   // rotated: re-stack the blocks
    var cw = RC.view.template.canvas.width, ch = RC.view.template.canvas.height;
    var vw = window.innerWidth || document.documentElement.clientWidth || cw;
    var vh = window.innerHeight || document.documentElement.clientHeight || ch;
    var s = Math.min(vw / cw, vh / ch);
    var left = Math.round((vw - cw * s) / 2), top = Math.round((vh - ch * s) / 2);
    dom.stage.style.width = cw + 'px';
    dom.stage.style.height = ch + 'px';
    dom.stage.style.transform = 'translate(' + left + 'px,' + top + 'px) scale(' + s + ')';
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
    if (st.lineHeight) e.style.lineHeight = String(st.lineHeight);   // fit() gives it to the text
    if (st.border) {
      e.style.borderStyle = 'solid';
      e.style.borderWidth = st.border.width + 'px';
      e.style.borderColor = st.border.color || theme.foreground;
    }
    if (st.shadow) {
      e.style.boxShadow = st.shadow.x + 'px ' + st.shadow.y + 'px ' + st.shadow.blur + 'px ' + st.shadow.color;
    }
    if (st.opacity < 1) e.style.opacity = String(st.opacity);
    if (st.background) {
      var pad = Math.round(Math.min(st.size * 0.5, 40));
      e.style.paddingLeft = pad + 'px';
      e.style.paddingRight = pad + 'px';
    }
  }

  // ---------------------------------------------------------------- text fitting
  // The block's overflow choice (style.overflow): 'auto' (no choice) shrinks the font until
  // the text fits its box; if the minimum size still overflows, wraps to `lines` lines and
  // finally clamps with an ellipsis. 'shrink': one line, the font shrinks as far as it must
  // (down to 6 px). 'ellipsis': one line at the block's size (smaller only if the box is not
  // tall enough for it), cut with an ellipsis. 'wrap': as many lines as the box holds, the
  // font shrinks only when the wrapped text is still too tall; clamped as a last resort.
  // Layout sizes ignore the stage transform.
  var OVERFLOW = ['auto', 'shrink', 'ellipsis', 'wrap'];
  var LINE_DEFAULT = 1.12;            // .rc-t line-height

  function fit(span, box, base, lines, minRatio, mode) {
    lines = lines || 1;
    var minSize = Math.max(8, base * (minRatio || 0.45));
    span.classList.remove('rc-multi');
    span.classList.remove('rc-clamp');
    span.style.webkitLineClamp = '';
    span.style.fontSize = base + 'px';
    var LINE = parseFloat(box.style.lineHeight) || LINE_DEFAULT;   // the block's style.line_height
    if (box.style.lineHeight) span.style.lineHeight = box.style.lineHeight;
    if (!span.textContent) return;
    var cs = window.getComputedStyle(box);
    var availH = box.clientHeight - (parseFloat(cs.paddingTop) || 0) - (parseFloat(cs.paddingBottom) || 0);
    var availW = box.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
    function fitsOne() {
      return span.scrollWidth <= availW && span.offsetHeight <= availH + 1;
    }
    var best;
    if (mode === 'ellipsis') {
      if (span.offsetHeight > availH + 1) span.style.fontSize = Math.max(6, Math.floor(availH / LINE)) + 'px';
      return;                         // the CSS ellipsis of .rc-t cuts what is too wide
    }
    if (mode === 'shrink') {
      if (fitsOne()) return;
      span.style.fontSize = (search(span, 6, base, fitsOne) || 6) + 'px';
      return;
    }
    if (mode === 'wrap') {
      span.classList.add('rc-multi');
      span.style.maxHeight = 'none';
      var fitsWrapped = function () { return fitsOne() && span.scrollHeight <= availH + 1; };
      if (fitsWrapped()) return;
      best = search(span, 6, base, fitsWrapped);
      if (best) { span.style.fontSize = best + 'px'; return; }
      span.style.fontSize = '6px';
      span.classList.add('rc-clamp');
      span.style.webkitLineClamp = String(Math.max(1, Math.floor(availH / (6 * LINE))));
      return;
    }
    if (fitsOne()) return;
    best = search(span, minSize, base, fitsOne);
    if (best) { span.style.fontSize = best + 'px'; return; }
    if (lines > 1) {
      span.classList.add('rc-multi');
      span.style.maxHeight = 'none';
      var fitsMulti = function () {
        var size = parseFloat(span.style.fontSize);
        return span.scrollWidth <= availW && span.offsetHeight <= availH + 1 &&
          span.offsetHeight <= lines * size * Math.max(1.2, LINE + 0.08) + 2;
      };
      best = search(span, minSize, base, fitsMulti);
      if (best) { span.style.fontSize = best + 'px'; return; }
      var size = Math.max(minSize, Math.min(base, availH / (lines * LINE) * 0.94));
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

  function fitText(span, box, base, lines, minRatio, mode) { fit(span, box, base, lines, minRatio, mode); }

  // ---------------------------------------------------------------- exports
  RC.dom = dom;
  RC.applyBox = applyBox;
  RC.applyStyle = applyStyle;
  RC.fitText = fitText;
  RC.OVERFLOW = OVERFLOW;
  RC.layoutStage = layoutStage;
  RC.scaffold = scaffold;
})();
