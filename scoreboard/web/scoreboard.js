// Public scoreboard for the projector: the public WebSocket view.
(function () {
  'use strict';
  const { t, tx, el, $, setText, keyed, flip, countTo, fmtClock, fmtPoints } = ICS;

  ICS.init();
  const phase = ICS.phaseBadge();
  $('#phase-slot').appendChild(phase.node);
  const conn = ICS.connBadge();
  $('#conn-slot').appendChild(conn.node);

  let view = null;
  const prevScore = new Map(); // team → last score shown
  let events = []; // newest first, public events
  const seen = new Set();
  const MAX_LATEST = 14;
  let broadcastTimer = 0;
  let lastBroadcast = null;

  function render() {
    if (!view) return;
    const ex = view.exercise || {};
    const title = tx(ex.title) || ex.scenario || 'icsrange';
    setText($('#title'), title);
    document.title = title + ' — icsrange';

    const p = ex.phase || 'created';
    phase.set(p);
    $('#banner-paused').hidden = p !== 'paused';
    $('#banner-ended').hidden = p !== 'ended';
    $('#banner-created').hidden = p !== 'created';
    $('#shell').classList.toggle('phase-is-paused', p === 'paused');

    const clock = Number(ex.clock_ms) || 0;
    const dur = Number(ex.duration_ms) || 0;
    setText($('#clock'), fmtClock(clock));
    setText($('#time-left'), fmtClock(Math.max(0, dur - clock)));
    const pct = dur > 0 ? Math.min(100, (clock / dur) * 100) : 0;
    $('#progress-bar').style.width = pct.toFixed(2) + '%';
    $('#progress').setAttribute('aria-valuenow', String(Math.round(pct)));

    renderRanking(view.teams || []);
    renderTimeline(view.timeline || []);
    renderMatrix(view.objectives || [], view.teams || []);
  }

  function renderRanking(teams) {
    const ol = $('#ranking');
    ol.classList.toggle('dense', teams.length > 3 && teams.length <= 6);
    ol.classList.toggle('xdense', teams.length > 6);
    flip(ol, () => {
      keyed(ol, teams, (tm) => tm.name, (tm) => {
        const li = el('li', { testid: 'rank-row-' + tm.name },
          el('span', { class: 'rank' }),
          el('span', { class: 'name', text: tm.name, testid: 'team-name', attrs: { title: tm.name } }),
          el('span', { class: 'chip' }),
          el('span', { class: 'delta-slot' }),
          el('span', { class: 'score', testid: 'score-' + tm.name, text: '0' }));
        li.querySelector('.score').dataset.value = '0';
        return li;
      }, (li, tm) => {
        setText(li.querySelector('.rank'), String(tm.rank));
        li.classList.toggle('top', tm.rank === 1 && teams.length > 1 && (tm.score || 0) > 0);
        const chip = li.querySelector('.chip');
        const plant = ['normal', 'alarm', 'incident'].includes(tm.plant) ? tm.plant : 'normal';
        chip.className = 'chip chip-' + plant;
        chip.dataset.plant = plant;
        chip.setAttribute('data-testid', 'plant-' + tm.name);
        const icon = { normal: '●', alarm: '▲', incident: '■' }[plant];
        const n = tm.incidents || 0;
        setText(chip, icon + ' ' + t('plant.' + plant) + (n > 0 ? ' (' + n + ')' : ''));
        const full = t('plant.' + plant) + (n > 0 ? ' · ' + t('sb.incidents', { n }) : '');
        chip.title = full;
        chip.setAttribute('aria-label', full);
        const sc = li.querySelector('.score');
        const score = Number(tm.score) || 0;
        const before = prevScore.get(tm.name);
        prevScore.set(tm.name, score);
        if (before === undefined) {
          sc.dataset.value = String(score);
          setText(sc, String(score));
          return;
        }
        if (before !== score) {
          countTo(sc, score);
          const d = score - before;
          const flash = el('span', { class: 'delta ' + (d > 0 ? 'pos' : 'neg'), text: fmtPoints(d), testid: 'delta', attrs: { 'aria-hidden': 'true' } });
          flash.addEventListener('animationend', () => flash.remove());
          setTimeout(() => flash.remove(), 4000);
          ICS.clear(li.querySelector('.delta-slot')).appendChild(flash);
          li.classList.remove('changed-up', 'changed-down');
          void li.offsetWidth; // restart the highlight animation
          li.classList.add(d > 0 ? 'changed-up' : 'changed-down');
        }
      });
    });
  }

  function renderTimeline(tl) {
    const ol = $('#timeline');
    keyed(ol, tl, (e) => e.id, () => el('li', {}, el('span', { class: 'when' }), el('span', { class: 'what' })),
      (li, e) => {
        setText(li.querySelector('.when'), fmtClock(e.clock_ms));
        setText(li.querySelector('.what'), tx(e.name) || e.id);
      });
    $('#timeline-empty').hidden = tl.length > 0;
    // Keep the newest in sight.
    const body = ol.parentElement;
    if (tl.length !== (ol._n || 0)) { body.scrollTop = body.scrollHeight; ol._n = tl.length; }
  }

  const ICON = { achieved: '✓', failed: '✗', pending: '·', partial: '½' };

  function renderMatrix(objs, teams) {
    const head = $('#matrix-head');
    keyed(head, [{ id: '' }].concat(objs), (o) => o.id || '#team', (o) => el('th', { attrs: { scope: 'col' } }),
      (th, o) => {
        if (!o.id) { th.className = 'team'; setText(th, t('sb.team')); return; }
        setText(th, tx(o.title) || o.id);
        th.title = (tx(o.title) || o.id) + ' (' + (o.points || 0) + ')';
      });
    const rows = teams.slice().sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    keyed($('#matrix-body'), rows, (tm) => tm.name, (tm) => el('tr', { testid: 'matrix-row-' + tm.name },
      el('td', { class: 'team', text: tm.name, attrs: { title: tm.name } })),
    (tr, tm) => {
      const cells = Array.from(tr.children).slice(1);
      while (cells.length < objs.length) { const td = el('td', {}, el('span', { class: 'obj' })); tr.appendChild(td); cells.push(td); }
      while (cells.length > objs.length) cells.pop().remove();
      objs.forEach((o, i) => {
        const st = (tm.objectives && tm.objectives[o.id]) || 'pending';
        const s = ICON[st] ? st : 'pending';
        const span = cells[i].firstChild;
        span.className = 'obj obj-' + s;
        span.dataset.status = s;
        setText(span, ICON[s]);
        const label = (tx(o.title) || o.id) + ': ' + t('obj.' + s);
        span.setAttribute('aria-label', label);
        span.title = label;
      });
    });
  }

  function eventNode(e, fresh) {
    const li = el('li', { class: 'lvl-' + (['info', 'good', 'bad', 'alert'].includes(e.level) ? e.level : 'info') + (fresh ? ' new' : '') },
      el('span', { class: 'when', text: fmtClock(e.clock_ms) }),
      el('span', { class: 'what' }, e.team ? el('span', { class: 'team-tag', text: e.team }) : null, tx(e.text)),
      e.points ? el('span', { class: 'pts ' + (e.points > 0 ? 'pos' : 'neg'), text: fmtPoints(e.points) }) : el('span'));
    return li;
  }

  function renderLatest(newSeq) {
    const ul = $('#latest');
    ICS.clear(ul);
    for (const e of events.slice(0, MAX_LATEST)) ul.appendChild(eventNode(e, e.seq === newSeq));
    $('#latest-empty').hidden = events.length > 0;
  }

  function addEvent(e, live) {
    if (!e || seen.has(e.seq)) return;
    if (e.kind === 'exercise.created') return;
    seen.add(e.seq);
    events.unshift(e);
    if (events.length > 200) {
      for (const old of events.splice(200)) seen.delete(old.seq);
    }
    if (live && e.kind === 'message.broadcast') showBroadcast(e);
  }

  function showBroadcast(e) {
    lastBroadcast = e;
    const b = $('#banner-broadcast');
    setText(b, tx(e.text));
    b.hidden = false;
    clearTimeout(broadcastTimer);
    broadcastTimer = setTimeout(() => { b.hidden = true; lastBroadcast = null; }, 60000);
  }

  const ws = new ICS.Conn({
    onStatus: (s, x) => conn.set(s, x),
    onSnapshot: (d, fresh) => {
      if (fresh) { events = []; seen.clear(); prevScore.clear(); }
      const evs = (d.events || []).slice().sort((a, b) => a.seq - b.seq);
      for (const e of evs) addEvent(e, false);
      view = d.view || null;
      render();
      renderLatest(0);
    },
    onEvent: (e) => { addEvent(e, true); renderLatest(e.seq); },
    onView: (v) => { view = v; render(); },
  });

  ICS.onLang(() => {
    render();
    renderLatest(0);
    if (lastBroadcast) setText($('#banner-broadcast'), tx(lastBroadcast.text));
  });
  ws.start();
})();
