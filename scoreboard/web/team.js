// Team console: HMI, feed, objectives, questions, actions, hints, and the
// PLCs' Modbus traffic log and audit trail.
(function () {
  'use strict';
  const { t, tx, el, $, setText, keyed, countTo, fmtClock, fmtPoints, fmtValue } = ICS;

  ICS.init();
  const phase = ICS.phaseBadge();
  $('#phase-slot').appendChild(phase.node);
  const conn = ICS.connBadge();
  $('#conn-slot').appendChild(conn.node);
  const traffic = ICS.trafficLog();
  $('#traffic').appendChild(traffic.node);
  $('#audit').appendChild(traffic.auditNode);

  const TREND_MAX = 120;
  const FEED_MAX = 300;
  const TABLES = ['ir', 'hr', 'co', 'di'];

  let ws = null;
  let view = null;
  let feed = []; // newest first
  const seen = new Set();
  const series = new Map(); // "plc.tag" → numbers
  let trendClock = -1;
  const qFeedback = new Map(); // question → {cls, text()}
  const aResult = new Map(); // action → {cls, text()}
  const hResult = new Map(); // hint → {cls, text()}
  const hintTexts = new Map(); // hint → text got from a reply, until the view has it
  let newestSeq = 0;

  const running = () => view && view.exercise && view.exercise.phase === 'running';

  // ------------------------------------------------------------- header

  function renderHeader() {
    const ex = view.exercise || {};
    setText($('#team-name'), view.team || '');
    setText($('#ex-title'), tx(ex.title));
    document.title = (view.team || 'team') + ' — ' + (tx(ex.title) || 'icsrange');
    countTo($('#team-score'), Number(view.score) || 0);
    setText($('#team-rank'), view.rank ? t('team.rank.of', { rank: view.rank, n: ex.teams || '?' }) : '–');
    const p = ex.phase || 'created';
    phase.set(p);
    $('#banner-paused').hidden = p !== 'paused';
    $('#banner-ended').hidden = p !== 'ended';
    $('#banner-created').hidden = p !== 'created';
    const clock = Number(ex.clock_ms) || 0;
    const dur = Number(ex.duration_ms) || 0;
    setText($('#time-left'), fmtClock(Math.max(0, dur - clock)));
    const pct = dur > 0 ? Math.min(100, (clock / dur) * 100) : 0;
    $('#progress-bar').style.width = pct.toFixed(2) + '%';
    $('#progress').setAttribute('aria-valuenow', String(Math.round(pct)));
  }

  // ---------------------------------------------------------------- HMI

  function addSamples(v) {
    const ex = v.exercise || {};
    if (ex.phase !== 'running') return;
    const clock = Number(ex.clock_ms) || 0;
    if (clock <= trendClock) return;
    trendClock = clock;
    for (const p of v.plant || []) {
      if (!p.online) continue;
      for (const tag of p.tags || []) {
        if (tag.table !== 'ir') continue;
        const k = p.id + '.' + tag.name;
        const s = series.get(k) || [];
        s.push(Number(tag.value));
        if (s.length > TREND_MAX) s.splice(0, s.length - TREND_MAX);
        series.set(k, s);
      }
    }
  }

  function seedTrends(tr) {
    series.clear();
    trendClock = -1;
    if (!tr || !tr.values) return;
    for (const [k, vals] of Object.entries(tr.values)) {
      if (Array.isArray(vals)) series.set(k, vals.map(Number).slice(-TREND_MAX));
    }
    const cm = tr.clock_ms || [];
    if (cm.length) trendClock = Number(cm[cm.length - 1]) || -1;
  }

  function sparkline(svg, data, tag) {
    const W = 120;
    const H = 28;
    const line = svg.querySelector('polyline');
    const area = svg.querySelector('polygon');
    if (!data || data.length < 2) {
      line.setAttribute('points', '');
      area.setAttribute('points', '');
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) { if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    // Don't blow noise up into mountains: at least 2% of the tag's range.
    const span = Math.max(hi - lo, ((Number(tag.max) || 0) - (Number(tag.min) || 0)) * 0.02, 1e-6);
    const mid = (hi + lo) / 2;
    lo = mid - span / 2 - span * 0.1;
    hi = mid + span / 2 + span * 0.1;
    const n = data.length;
    const pts = data.map((v, i) => {
      const x = (i / (TREND_MAX - 1)) * W + (TREND_MAX - n) / (TREND_MAX - 1) * W;
      const y = H - ((v - lo) / (hi - lo)) * H;
      return x.toFixed(1) + ',' + (isFinite(y) ? y.toFixed(1) : H);
    });
    line.setAttribute('points', pts.join(' '));
    const x0 = pts[0].split(',')[0];
    area.setAttribute('points', x0 + ',' + H + ' ' + pts.join(' ') + ' ' + W + ',' + H);
  }

  function createPLC(p) {
    const tables = TABLES.map((tb) => el('table', { class: 'tagtable t-' + tb, testid: 'tags-' + p.id + '-' + tb },
      el('caption', { i18n: 'team.hmi.table.' + tb }), el('tbody')));
    const box = el('article', { class: 'plc', testid: 'hmi-' + p.id },
      el('header', {},
        el('h3', { class: 'plc-title' }),
        el('span', { class: 'endpoint' }),
        // Traffic cues: something writes, someone new talks. Who it is,
        // the Traffic panel shows; finding out is the team's job.
        el('span', { class: 'traffic-badges' },
          el('span', { class: 'tbadge tbadge-writes', testid: 'writes-' + p.id, attrs: { 'data-i18n-title': 'team.hmi.writes.title' }, title: t('team.hmi.writes.title') }),
          el('span', { class: 'tbadge tbadge-new', testid: 'newtalker-' + p.id, hidden: true, attrs: { role: 'status', 'data-i18n-title': 'team.hmi.newtalker.title' }, title: t('team.hmi.newtalker.title') }))),
      el('div', { class: 'offline', testid: 'offline-' + p.id, attrs: { role: 'alert' }, hidden: true },
        el('strong', { i18n: 'team.hmi.offline' }), el('span', { i18n: 'team.hmi.offline.sub' })),
      el('div', { class: 'tables' }, tables));
    return box;
  }

  function updatePLC(box, p) {
    setText(box.querySelector('.plc-title'), tx(p.title) || p.id);
    const ep = box.querySelector('.endpoint');
    ICS.clear(ep);
    ep.append(t('team.hmi.endpoint') + ' ', el('code', { text: p.modbus || '—', testid: 'modbus-' + p.id }),
      ' · ' + t('team.hmi.unit', { u: p.unit_id }) + (p.zone ? ' · ' + t('team.hmi.zone', { z: p.zone }) : ''));
    const tr = p.traffic || {};
    const writes = Number(tr.writes_per_min) || 0;
    const fresh = Number(tr.new_talkers) || 0;
    const wb = box.querySelector('.tbadge-writes');
    setText(wb, t('team.hmi.writes', { n: writes }));
    wb.classList.toggle('active', writes > 0);
    wb.dataset.value = String(writes);
    const nb = box.querySelector('.tbadge-new');
    nb.hidden = fresh <= 0;
    setText(nb, fresh > 1 ? t('team.hmi.newtalkers', { n: fresh }) : t('team.hmi.newtalker'));
    const online = !!p.online;
    box.classList.toggle('is-offline', !online);
    box.querySelector('.offline').hidden = online;
    // Why the HMI shows nothing: its host is stopped, frozen or cut off.
    const sub = box.querySelector('.offline span');
    const why = p.hmi === 'paused' || p.hmi === 'disconnected' ? 'team.hmi.offline.sub.' + p.hmi : 'team.hmi.offline.sub';
    if (sub.dataset.i18n !== why) { sub.dataset.i18n = why; setText(sub, t(why)); }
    box.querySelector('.tables').hidden = !online;
    if (!online) return;
    const byTable = { ir: [], hr: [], co: [], di: [] };
    for (const tag of p.tags || []) if (byTable[tag.table]) byTable[tag.table].push(tag);
    const tables = box.querySelectorAll('table.tagtable');
    TABLES.forEach((tb, i) => {
      const table = tables[i];
      table.hidden = byTable[tb].length === 0;
      keyed(table.tBodies[0], byTable[tb], (tag) => tag.name, (tag) => createTagRow(p, tag), (tr, tag) => updateTagRow(p, tr, tag));
    });
  }

  function createTagRow(p, tag) {
    const cells = [
      el('td', { class: 'addr', text: tag.table + ':' + tag.address, title: t('team.hmi.addr'), attrs: { 'data-i18n-title': 'team.hmi.addr' } }),
      el('td', { class: 'name', text: tag.name }),
    ];
    if (tag.table === 'ir') {
      const svg = el('svg:svg', { class: 'sparkline', viewBox: '0 0 120 28', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
        el('svg:rect', { class: 'bg', x: 0, y: 0, width: 120, height: 28, rx: 2 }),
        el('svg:polygon', { class: 'area' }), el('svg:polyline', {}));
      cells.push(el('td', { class: 'spark' }, svg));
    } else {
      cells.push(el('td', { class: 'spark' }));
    }
    cells.push(el('td', { class: 'val', testid: 'tag-' + p.id + '-' + tag.name }), el('td', { class: 'unit', text: tag.unit || '' }));
    return el('tr', { attrs: { 'data-class': tag.class } }, cells);
  }

  function updateTagRow(p, tr, tag) {
    const val = tr.querySelector('.val');
    const digital = tag.table === 'co' || tag.table === 'di';
    const on = Number(tag.value) >= 0.5;
    if (digital) {
      let b = val.firstChild;
      if (!b || b.nodeType !== 1) { ICS.clear(val); b = el('span'); val.appendChild(b); }
      b.className = 'bit ' + (on ? 'bit-on' : 'bit-off');
      setText(b, on ? t('team.hmi.on') : t('team.hmi.off'));
    } else {
      setText(val, fmtValue(tag.value));
    }
    const alarmish = tag.class === 'alarm' || tag.class === 'trip';
    tr.classList.toggle('hot', digital && alarmish && on);
    tr.classList.toggle('trip-hot', digital && tag.class === 'trip' && on);
    tr.classList.toggle('bypass-hot', digital && tag.class === 'bypass' && on);
    if (tag.table === 'ir') sparkline(tr.querySelector('svg'), series.get(p.id + '.' + tag.name), tag);
  }

  function renderHMI() {
    keyed($('#hmi'), view.plant || [], (p) => p.id, createPLC, updatePLC);
    traffic.setPLCs((view.plant || []).map((p) => p.id));
  }

  // ---------------------------------------------------------- objectives

  function renderObjectives() {
    const ICON = { achieved: '✓', failed: '✗', pending: '·' };
    keyed($('#objectives'), view.objectives || [], (o) => o.id, (o) => el('li', { testid: 'objective-' + o.id },
      el('span', { class: 'obj' }), el('span', { class: 'otitle' }), el('span', { class: 'pts' })),
    (li, o) => {
      const st = ICON[o.status] ? o.status : 'pending';
      const ic = li.querySelector('.obj');
      ic.className = 'obj obj-' + st;
      ic.dataset.status = st;
      setText(ic, ICON[st]);
      ic.setAttribute('aria-label', t('obj.' + st));
      ic.title = t('obj.' + st);
      setText(li.querySelector('.otitle'), tx(o.title) || o.id);
      setText(li.querySelector('.pts'), t('team.obj.earned', { e: o.earned || 0, p: o.points || 0 }));
    });
  }

  // ----------------------------------------------------------- questions

  function createQuestion(q) {
    const input = el('input', { type: 'text', maxLength: 200, autocomplete: 'off', spellcheck: false, testid: 'answer-input-' + q.id });
    input.dataset.i18nAria = 'team.q.answer';
    input.dataset.i18nPlaceholder = 'team.q.answer';
    input.setAttribute('aria-label', t('team.q.answer'));
    input.placeholder = t('team.q.answer');
    const btn = el('button', { type: 'submit', class: 'primary', i18n: 'team.q.submit', testid: 'answer-submit-' + q.id });
    const form = el('form', { class: 'row', attrs: { method: 'post', autocomplete: 'off' } }, input, btn);
    const fb = el('div', { class: 'feedback', testid: 'answer-feedback-' + q.id, attrs: { role: 'status', 'aria-live': 'polite' } });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const answer = input.value.trim();
      if (!answer || btn.disabled) return;
      btn.disabled = true;
      form.dataset.busy = '1';
      ws.command('answer', { question: q.id, answer }).then((r) => {
        if (r.correct) {
          qFeedback.set(q.id, { cls: 'ok', text: () => t('team.q.correct') });
          input.value = '';
        } else {
          const left = r.attempts_left;
          const pen = r.penalty || 0;
          qFeedback.set(q.id, { cls: 'error', text: () => t('team.q.wrong') + ' ' + t('team.q.wrong.detail', { left, p: pen }) });
          input.select();
        }
      }, (e) => {
        qFeedback.set(q.id, { cls: 'error', text: () => ICS.errText(e) });
      }).then(() => {
        delete form.dataset.busy;
        btn.disabled = false;
        if (view) renderQuestions();
      });
    });
    return el('div', { class: 'card', testid: 'question-' + q.id },
      el('div', { class: 'prompt' }), el('div', { class: 'meta' }, el('span', { class: 'att' }), el('span', { class: 'pen' })),
      form, el('div', { class: 'state muted' }), fb);
  }

  function updateQuestion(card, q) {
    setText(card.querySelector('.prompt'), tx(q.prompt) || q.id);
    setText(card.querySelector('.att'), t('team.q.attempts', { left: q.attempts_left, n: q.attempts }));
    const pen = card.querySelector('.pen');
    pen.hidden = !q.penalty;
    setText(pen, q.penalty ? t('team.q.penalty', { p: q.penalty }) : '');
    const form = card.querySelector('form');
    const state = card.querySelector('.state');
    card.classList.toggle('done', !!q.answered);
    card.classList.toggle('spent', !q.answered && q.attempts_left <= 0);
    card.dataset.answered = String(!!q.answered);
    let stateText = '';
    if (q.answered) stateText = t('team.q.solved');
    else if (q.attempts_left <= 0) stateText = t('team.q.noattempts');
    else if (!running()) stateText = t('team.q.notrunning');
    form.hidden = !!q.answered || q.attempts_left <= 0;
    const btn = form.querySelector('button');
    if (!form.dataset.busy) btn.disabled = !running();
    setText(state, stateText);
    state.hidden = !stateText;
    const fb = card.querySelector('.feedback');
    const f = qFeedback.get(q.id);
    fb.className = 'feedback ' + (f ? f.cls : '');
    setText(fb, f ? f.text() : '');
  }

  function renderQuestions() {
    const qs = view.questions || [];
    keyed($('#questions'), qs, (q) => q.id, createQuestion, updateQuestion);
    $('#questions-empty').hidden = qs.length > 0;
  }

  // -------------------------------------------------- actions and hints

  // confirmable builds the take → confirm/cancel flow for a card.
  function confirmable(id, takeKey, testPrefix, run) {
    const take = el('button', { type: 'button', class: 'warn', i18n: takeKey, testid: testPrefix + '-take-' + id });
    const q = el('p');
    const yes = el('button', { type: 'button', class: 'danger', i18n: 'team.a.confirm', testid: testPrefix + '-confirm-' + id });
    const no = el('button', { type: 'button', i18n: 'team.a.cancel' });
    const box = el('div', { class: 'confirm', hidden: true, attrs: { role: 'group' } }, q, el('div', { class: 'row' }, yes, no));
    take.addEventListener('click', () => { box.hidden = false; take.hidden = true; yes.focus(); });
    no.addEventListener('click', () => { box.hidden = true; take.hidden = false; take.focus(); });
    yes.addEventListener('click', () => {
      yes.disabled = true;
      run().finally(() => { yes.disabled = false; box.hidden = true; take.hidden = false; });
    });
    return { take, box, question: q };
  }

  function createAction(a) {
    const c = confirmable(a.id, 'team.a.take', 'action', () => ws.command('action', { action: a.id }).then((r) => {
      const outs = (r.effects || []).map((e) => e.outcome);
      const ok = outs.every((o) => o === 'ok');
      aResult.set(a.id, { cls: ok ? 'ok' : 'error', text: () => (ok ? t('team.a.ok') : t('team.a.outcome', { o: outs.join(', ') })) });
    }, (e) => {
      aResult.set(a.id, { cls: 'error', text: () => ICS.errText(e) });
    }).then(() => { if (view) renderActions(); }));
    const card = el('div', { class: 'card', testid: 'action-' + a.id },
      el('div', { class: 'prompt atitle' }), el('div', { class: 'adesc muted' }),
      el('div', { class: 'meta' }, el('span', { class: 'cost' }), el('span', { class: 'astate' })),
      el('div', { class: 'row' }, c.take), c.box,
      el('div', { class: 'feedback', attrs: { role: 'status', 'aria-live': 'polite' } }));
    card._c = c;
    return card;
  }

  function updateAction(card, a) {
    setText(card.querySelector('.atitle'), tx(a.title) || a.id);
    const desc = tx(a.description);
    const d = card.querySelector('.adesc');
    d.hidden = !desc;
    setText(d, desc);
    setText(card.querySelector('.cost'), a.cost ? t('team.a.cost', { c: a.cost }) : t('team.a.free'));
    let st = '';
    const used = a.once && a.taken > 0;
    if (used) st = t('team.a.used');
    else if (!a.ready && a.ready_in_ms) st = t('team.a.cooldown', { t: fmtClock(a.ready_in_ms) });
    else if (a.taken > 0) st = t('team.a.taken', { n: a.taken });
    setText(card.querySelector('.astate'), st);
    card.classList.toggle('spent', used);
    card.dataset.ready = String(!!a.ready);
    const c = card._c;
    const can = a.ready && running();
    c.take.disabled = !can;
    if (!can) { c.box.hidden = true; c.take.hidden = false; }
    setText(c.question, a.cost ? t('team.a.confirm.q', { c: a.cost }) : t('team.a.confirm.free'));
    const fb = card.querySelector('.feedback');
    const r = aResult.get(a.id);
    fb.className = 'feedback ' + (r ? r.cls : '');
    setText(fb, r ? r.text() : '');
  }

  function renderActions() {
    const as = view.actions || [];
    keyed($('#actions'), as, (a) => a.id, createAction, updateAction);
    $('#actions-empty').hidden = as.length > 0;
  }

  function hintTarget(id) {
    if (!id) return '';
    const q = (view.questions || []).find((x) => x.id === id);
    if (q) return tx(q.prompt);
    const o = (view.objectives || []).find((x) => x.id === id);
    if (o) return tx(o.title);
    return id;
  }

  function createHint(h) {
    const c = confirmable(h.id, 'team.h.request', 'hint', () => ws.command('hint', { hint: h.id }).then((r) => {
      if (r.text) hintTexts.set(h.id, r.text);
      hResult.delete(h.id);
    }, (e) => {
      hResult.set(h.id, { cls: 'error', text: () => ICS.errText(e) });
    }).then(() => { if (view) renderHints(); }));
    const card = el('div', { class: 'card', testid: 'hint-' + h.id },
      el('div', { class: 'prompt hfor' }),
      el('div', { class: 'meta' }, el('span', { class: 'hcost' })),
      el('div', { class: 'row' }, c.take), c.box,
      el('div', { class: 'hinttext', testid: 'hint-text-' + h.id, hidden: true }),
      el('div', { class: 'feedback', attrs: { role: 'status', 'aria-live': 'polite' } }));
    card._c = c;
    return card;
  }

  function updateHint(card, h) {
    const target = hintTarget(h.for);
    setText(card.querySelector('.hfor'), h.title ? tx(h.title) : (target ? t('team.h.for', { q: target }) : h.id));
    setText(card.querySelector('.hcost'), h.released ? t('team.h.released') : (h.requestable ? (h.cost ? t('team.h.cost', { c: h.cost }) : t('team.a.free')) : t('team.h.locked')));
    const text = h.text || hintTexts.get(h.id);
    const released = !!(h.released || text);
    const ht = card.querySelector('.hinttext');
    ht.hidden = !released;
    setText(ht, text ? tx(text) : '');
    card.dataset.released = String(released);
    const c = card._c;
    const can = h.requestable && !released && running();
    c.take.hidden = released || !h.requestable;
    c.take.disabled = !can;
    if (released || !can) c.box.hidden = true;
    setText(c.question, h.cost ? t('team.h.confirm.q', { c: h.cost }) : t('team.a.confirm.free'));
    const fb = card.querySelector('.feedback');
    const r = hResult.get(h.id);
    fb.className = 'feedback ' + (r ? r.cls : '');
    setText(fb, r ? r.text() : '');
  }

  function renderHints() {
    const hs = view.hints || [];
    keyed($('#hints'), hs, (h) => h.id, createHint, updateHint);
    $('#hints-empty').hidden = hs.length > 0;
  }

  // --------------------------------------------------------------- feed

  function addEvent(e) {
    if (!e || seen.has(e.seq) || e.kind === 'exercise.created') return false;
    seen.add(e.seq);
    feed.push(e);
    return true;
  }

  function renderFeed() {
    feed.sort((a, b) => b.seq - a.seq);
    if (feed.length > FEED_MAX) for (const old of feed.splice(FEED_MAX)) seen.delete(old.seq);
    const ul = $('#feed');
    ICS.clear(ul);
    for (const e of feed) {
      const lvl = ['info', 'good', 'bad', 'alert'].includes(e.level) ? e.level : 'info';
      ul.appendChild(el('li', { class: 'lvl-' + lvl + (e.seq === newestSeq ? ' new' : ''), attrs: { 'data-kind': e.kind } },
        el('span', { class: 'when', text: fmtClock(e.clock_ms) }),
        el('span', { class: 'what', text: tx(e.text) }),
        e.points ? el('span', { class: 'pts ' + (e.points > 0 ? 'pos' : 'neg'), text: fmtPoints(e.points) }) : el('span')));
    }
    $('#feed-empty').hidden = feed.length > 0;
    newestSeq = 0; // animate a new entry once
  }

  // The instructor's latest broadcast stays on a banner for a minute.
  let broadcast = null;
  let broadcastTimer = 0;
  function showBroadcast(e) {
    broadcast = e;
    const b = $('#banner-broadcast');
    setText(b, tx(e.text));
    b.hidden = false;
    clearTimeout(broadcastTimer);
    broadcastTimer = setTimeout(() => { b.hidden = true; broadcast = null; }, 60000);
  }

  // ------------------------------------------------------------- wiring

  function renderAll() {
    if (!view) return;
    renderHeader();
    renderHMI();
    renderObjectives();
    renderQuestions();
    renderActions();
    renderHints();
  }

  const gate = ICS.gate('team', (token, fail) => {
    traffic.setToken(token);
    ws = new ICS.Conn({
      token,
      onStatus: (s, x) => conn.set(s, x),
      onAuthError: () => { ws.stop(); fail('login.bad'); },
      onSnapshot: (d, fresh) => {
        if (d.role !== 'team') { ws.stop(); fail('login.wrongrole.team'); return; }
        if (fresh) { feed = []; seen.clear(); }
        for (const e of d.events || []) addEvent(e);
        seedTrends(d.trends);
        view = d.view || null;
        if (view) addSamples(view);
        newestSeq = 0;
        renderAll();
        renderFeed();
        traffic.seed(d.traffic, d.audit, fresh);
      },
      onTraffic: (b) => {
        if (b && (!view || b.team === view.team)) traffic.add(b);
      },
      onEvent: (e) => {
        if (!addEvent(e)) return;
        newestSeq = e.seq;
        renderFeed();
        if (e.kind === 'message.broadcast') showBroadcast(e);
      },
      onView: (v) => {
        if (v && v.team) { view = v; addSamples(v); renderAll(); }
      },
    });
    ws.start();
  });
  $('#signout').addEventListener('click', () => { if (ws) ws.stop(); gate.signOut(); });

  ICS.onLang(() => {
    renderAll();
    renderFeed();
    if (broadcast) setText($('#banner-broadcast'), tx(broadcast.text));
  });
})();
