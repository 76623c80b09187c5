// Instructor console: control, injects, hints, scores, broadcasts, the
// per-team truth-vs-reported drill-down with the team's Modbus traffic log
// and PLC audit trail, the event log and the report.
(function () {
  'use strict';
  const { t, tx, el, $, setText, keyed, fmtClock, fmtPoints, fmtValue } = ICS;

  ICS.init();
  const phase = ICS.phaseBadge();
  $('#phase-slot').appendChild(phase.node);
  const conn = ICS.connBadge();
  $('#conn-slot').appendChild(conn.node);
  // The drill-down team's traffic log: loaded from /api/traffic?team=,
  // then live from the WebSocket's traffic batches for that team.
  const traffic = ICS.trafficLog({ instructor: true });
  $('#drill-traffic-log').appendChild(traffic.node);
  $('#drill-audit-log').appendChild(traffic.auditNode);

  let ws = null;
  let token = '';
  let view = null;
  let drillTeam = '';
  const baseline = new Map(); // "team/plc" → first checksum seen
  const log = new Map(); // seq → event
  let logLoading = false;
  let logLoaded = false;
  let logNewest = 0;
  const LOG_SHOW = 500;

  // Status lines keep a message as a function so it follows the language.
  const statusMsgs = new Map();
  function status(id, cls, text) {
    statusMsgs.set(id, { cls, text });
    renderStatus(id);
  }
  function renderStatus(id) {
    const s = statusMsgs.get(id);
    const n = $('#' + id);
    if (!n || !s) return;
    n.className = 'status-line ' + (s.cls || '');
    setText(n, s.text());
  }

  const cmd = (id, type, data, okKey) => ws.command(type, data).then((r) => {
    if (okKey) status(id, 'ok', () => t(okKey));
    return r;
  }, (e) => {
    status(id, 'error', () => ICS.errText(e));
    throw e;
  });

  // -------------------------------------------------------------- header

  function renderHeader() {
    const ex = view.exercise || {};
    setText($('#ex-title'), tx(ex.title));
    document.title = t('login.title.instructor') + ' — ' + (tx(ex.title) || 'icsrange');
    const p = ex.phase || 'created';
    phase.set(p);
    $('#banner-paused').hidden = p !== 'paused';
    $('#banner-ended').hidden = p !== 'ended';
    const clock = Number(ex.clock_ms) || 0;
    const dur = Number(ex.duration_ms) || 0;
    setText($('#clock'), fmtClock(clock));
    setText($('#time-left'), fmtClock(Math.max(0, dur - clock)));
    const pct = dur > 0 ? Math.min(100, (clock / dur) * 100) : 0;
    $('#progress-bar').style.width = pct.toFixed(2) + '%';
    $('#progress').setAttribute('aria-valuenow', String(Math.round(pct)));
    $('#ctl-start').disabled = p !== 'created';
    $('#ctl-pause').disabled = p !== 'running';
    $('#ctl-resume').disabled = p !== 'paused';
    $('#ctl-stop').disabled = p === 'ended';
    if (p === 'ended') $('#stop-confirm').hidden = true;
  }

  // ------------------------------------------------------------- selects

  function options(select, items) {
    keyed(select, items, (o) => o.key, (o) => {
      const opt = el('option', { value: o.value });
      if (o.i18n) opt.dataset.i18n = o.i18n;
      return opt;
    }, (opt, o) => setText(opt, o.i18n ? t(o.i18n) : o.label));
  }

  function teamNames() { return (view.teams || []).map((tm) => tm.name).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })); }

  function renderSelects() {
    const names = teamNames();
    const teamOpts = names.map((n) => ({ key: 't:' + n, value: n, label: n }));
    const all = { key: 'all', value: '', i18n: 'instr.allteams' };
    document.querySelectorAll('select.team-select').forEach((s) => options(s, [all].concat(teamOpts)));
    document.querySelectorAll('select.team-select-one').forEach((s) => options(s, teamOpts));
    options($('#log-team'), [all, { key: 'ex', value: '-', i18n: 'instr.exerciseonly' }].concat(teamOpts));
    const fired = new Map();
    for (const tm of view.teams || []) for (const id of Object.keys(tm.fired || {})) fired.set(id, (fired.get(id) || 0) + 1);
    const nTeams = (view.teams || []).length;
    options($('#inject-id'), (view.injects || []).map((i) => {
      const trig = { manual: 'instr.inject.manual', at: 'instr.trigger.at', after: 'instr.trigger.after', when: 'instr.trigger.when' }[i.trigger];
      let when = trig ? t(trig) : String(i.trigger || '');
      if (i.trigger === 'at' && i.at_ms) when += ' ' + fmtClock(i.at_ms);
      if (i.trigger === 'after' && i.after) when += ' ' + i.after + ' +' + fmtClock(i.at_ms);
      const f = fired.get(i.id) || 0;
      return { key: i.id, value: i.id, label: (tx(i.name) || i.id) + ' [' + i.id + '] — ' + when + (f ? ' (' + f + '/' + nTeams + ')' : '') };
    }));
    options($('#hint-id'), (view.hints || []).map((h) => ({ key: h.id, value: h.id,
      label: (h.title ? tx(h.title) + ' [' + h.id + ']' : h.id) + (h.for ? ' → ' + h.for : '') + (h.cost ? ' (' + h.cost + ')' : '') })));
    const hp = (view.hints || []).find((h) => h.id === $('#hint-id').value);
    $('#hint-preview').hidden = !hp;
    setText($('#hint-preview'), hp ? tx(hp.text) : '');
    if (!drillTeam || !names.includes(drillTeam)) drillTeam = names[0] || '';
    if ($('#drill-team').value !== drillTeam) $('#drill-team').value = drillTeam;
  }

  // ---------------------------------------------------------- team table

  const OBJ_ICON = { achieved: '✓', failed: '✗', pending: '·' };

  function objIcons(objs, st) {
    return (objs || []).map((o) => {
      const s = OBJ_ICON[st[o.id]] ? st[o.id] : 'pending';
      const label = (tx(o.title) || o.id) + ': ' + t('obj.' + s);
      return el('span', { class: 'obj obj-' + s, text: OBJ_ICON[s], title: label, attrs: { 'aria-label': label } });
    });
  }

  // plantStatus is a team's normal/alarm/incident.
  function plantStatus(tm) {
    if (typeof tm.plant === 'string') return tm.plant;
    return (tm.alarms || 0) > 0 ? 'alarm' : 'normal';
  }

  function plantChip(plant, n) {
    const p = ['normal', 'alarm', 'incident'].includes(plant) ? plant : 'normal';
    return el('span', { class: 'chip chip-' + p, text: { normal: '●', alarm: '▲', incident: '■' }[p] + ' ' + t('plant.' + p) + (n ? ' (' + n + ')' : '') });
  }

  function renderTeams() {
    keyed($('#team-rows'), view.teams || [], (tm) => tm.name, (tm) => {
      const tr = el('tr', { class: 'clickable', testid: 'team-row-' + tm.name, tabIndex: 0 },
        el('td', { class: 'num rank' }), el('td', { class: 'name', text: tm.name }), el('td', { class: 'num score' }),
        el('td', { class: 'plant' }), el('td', { class: 'num alarms' }), el('td', { class: 'num incidents' }), el('td', { class: 'objs' }));
      const pick = () => { drillTeam = tm.name; $('#drill-team').value = tm.name; renderTeams(); renderDrill(); };
      tr.addEventListener('click', pick);
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); } });
      return tr;
    }, (tr, tm) => {
      tr.classList.toggle('selected', tm.name === drillTeam);
      tr.setAttribute('aria-selected', String(tm.name === drillTeam));
      setText(tr.querySelector('.rank'), String(tm.rank));
      setText(tr.querySelector('.score'), String(tm.score));
      ICS.clear(tr.querySelector('.plant')).appendChild(plantChip(plantStatus(tm)));
      setText(tr.querySelector('.alarms'), String(tm.alarms || 0));
      setText(tr.querySelector('.incidents'), String(tm.incidents || 0));
      const o = ICS.clear(tr.querySelector('.objs'));
      for (const n of objIcons(view.objectives, tm.objectives || {})) o.appendChild(n);
    });
  }

  // --------------------------------------------------------- drill-down

  // differs says whether truth and reported disagree beyond sensor noise:
  // bits exactly; analog values by 2% of the tag's span when the view has it,
  // else by 10% of the value (at least 0.5).
  function differs(tag) {
    const a = Number(tag.truth);
    const b = Number(tag.reported);
    if (tag.table === 'co' || tag.table === 'di') return (a >= 0.5) !== (b >= 0.5);
    const span = Number(tag.max) - Number(tag.min);
    const tol = span > 0 ? 0.02 * span : Math.max(0.1 * Math.max(Math.abs(a), Math.abs(b)), 0.5);
    return Math.abs(a - b) > tol;
  }

  function fmtTag(tag, v) {
    if (tag.table === 'co' || tag.table === 'di') return Number(v) >= 0.5 ? t('team.hmi.on') : t('team.hmi.off');
    return fmtValue(v) + (tag.unit ? ' ' + tag.unit : '');
  }

  function createPLC(p) {
    return el('div', { class: 'plc-truth', testid: 'truth-' + p.id },
      el('h3'), el('div', { class: 'facts' }),
      el('table', { class: 'tbl' },
        el('thead', {}, el('tr', {},
          el('th', { i18n: 'instr.tag' }), el('th', { text: '' }),
          el('th', { class: 'num', i18n: 'instr.truth' }), el('th', { class: 'num', i18n: 'instr.reported' }),
          el('th', { i18n: 'instr.override' }))),
        el('tbody')));
  }

  function fact(key, value, warn) {
    return el('span', {}, el('span', { class: 'muted', text: t(key) + ': ' }), el('strong', { class: warn ? 'warn' : '', text: value }));
  }

  function updatePLC(box, p) {
    setText(box.querySelector('h3'), p.id + ' · ' + p.model);
    const base = baseline.get(drillTeam + '/' + p.id) || p.checksum;
    const facts = ICS.clear(box.querySelector('.facts'));
    facts.append(
      fact('instr.plc.mode', p.mode || '?', p.mode !== 'run'),
      fact('instr.plc.program', p.program || '?', false),
      fact('instr.plc.checksum', p.checksum + (base !== p.checksum ? ' — ' + t('instr.plc.checksum.changed', { c: base }) : ''), base !== p.checksum));
    const faults = Object.entries(p.faults || {});
    if (faults.length) facts.append(fact('instr.plc.faults', faults.map(([f, v]) => f + '=' + v).join(', '), true));
    const tr = p.traffic || {};
    const writes = Number(tr.writes_per_min) || 0;
    const fresh = Number(tr.new_talkers) || 0;
    facts.append(
      fact('instr.plc.writes', String(writes), writes > 0),
      fact('instr.plc.talkers', String(Number(tr.talkers) || 0), false),
      fact('instr.plc.newtalkers', String(fresh), fresh > 0));
    box.dataset.writes = String(writes);
    box.dataset.newTalkers = String(fresh);
    keyed(box.querySelector('tbody'), p.tags || [], (tag) => tag.name, (tag) => el('tr', { attrs: { 'data-tag': tag.name } },
      el('td', { class: 'mono', text: tag.name }), el('td', { class: 'muted', text: tag.table + ' · ' + tag.class }),
      el('td', { class: 'num truth' }), el('td', { class: 'num rep' }), el('td', { class: 'ov' })),
    (tr, tag) => {
      const diff = differs(tag);
      tr.classList.toggle('diff', diff);
      tr.classList.toggle('over', !!tag.override);
      tr.dataset.differs = String(diff);
      setText(tr.querySelector('.truth'), fmtTag(tag, tag.truth));
      setText(tr.querySelector('.rep'), fmtTag(tag, tag.reported) + (diff ? ' ≠' : ''));
      setText(tr.querySelector('.ov'), tag.override ? tag.override.toUpperCase() : (diff ? t('instr.differs') : ''));
    });
  }

  function kvRow(dl, key, items, warn) {
    dl.append(el('dt', { text: t(key) }), el('dd', { class: warn && items.length ? 'warn' : '', text: items.length ? items.join(' · ') : t('instr.none') }));
  }

  function renderDrill() {
    const box = $('#drill');
    const tm = (view.teams || []).find((x) => x.name === drillTeam);
    $('#drill-traffic').hidden = !tm;
    if (!tm) { ICS.clear(box); delete box.dataset.team; traffic.setTeam(''); return; }
    traffic.setPLCs((tm.plcs || []).map((p) => p.id));
    traffic.setTeam(tm.name);
    if (box.dataset.team !== tm.name) { ICS.clear(box); box.dataset.team = tm.name; }
    let head = box.querySelector('.drill-head');
    let plcs = box.querySelector('.drill-plcs');
    let dl = box.querySelector('dl');
    if (!head) {
      head = el('div', { class: 'facts drill-head' });
      plcs = el('div', { class: 'drill-plcs' });
      dl = el('dl', { class: 'kv' });
      box.append(head, plcs, dl);
    }
    ICS.clear(head).append(
      el('strong', { text: tm.name }), ' ',
      fact('sb.score', String(tm.score), false), ' ',
      fact('sb.rank', String(tm.rank), false), ' ', plantChip(plantStatus(tm), tm.alarms));
    keyed(plcs, tm.plcs || [], (p) => p.id, createPLC, updatePLC);
    ICS.clear(dl);
    kvRow(dl, 'instr.hostsdown', tm.hosts_down || [], true);
    kvRow(dl, 'instr.hostspaused', tm.hosts_paused || [], true);
    kvRow(dl, 'instr.hostsoff', tm.hosts_disconnected || [], true);
    kvRow(dl, 'instr.cut', tm.conduits_cut || [], false);
    const names = new Map((view.injects || []).map((i) => [i.id, tx(i.name) || i.id]));
    const fired = Object.entries(tm.fired || {}).sort((a, b) => a[1] - b[1]).map(([id, ms]) => fmtClock(ms) + ' ' + (names.get(id) || id));
    kvRow(dl, 'instr.fired', fired, false);
    const answers = Object.entries(tm.answers || {}).sort().map(([q, a]) => q + ': ' + t('instr.answer.line', {
      n: a.attempts, c: a.correct ? t('instr.answer.correct') : t('instr.answer.notyet') }));
    kvRow(dl, 'instr.answers', answers, false);
    kvRow(dl, 'instr.hints.released', tm.hints || [], false);
  }

  // ----------------------------------------------------------- event log

  function addLog(e) {
    if (!e || !e.seq || log.has(e.seq)) return false;
    log.set(e.seq, e);
    return true;
  }

  let logQueued = false;
  function scheduleLog() {
    if (logQueued) return;
    logQueued = true;
    requestAnimationFrame(() => { logQueued = false; renderLog(); });
  }

  function renderLog() {
    const f = $('#log-team').value;
    const all = Array.from(log.values()).sort((a, b) => b.seq - a.seq);
    const match = all.filter((e) => f === '' || (f === '-' ? !e.team : (e.team === f || !e.team)));
    const ul = ICS.clear($('#log'));
    for (const e of match.slice(0, LOG_SHOW)) {
      const lvl = ['info', 'good', 'bad', 'alert'].includes(e.level) ? e.level : 'info';
      const data = e.data !== undefined && e.data !== null ? JSON.stringify(e.data, null, 1) : '';
      ul.appendChild(el('li', { class: 'lvl-' + lvl + (e.seq === logNewest ? ' new' : ''), attrs: { 'data-seq': String(e.seq), 'data-kind': e.kind } },
        el('span', { class: 'when', text: fmtClock(e.clock_ms) }),
        el('span', { class: 'what' }, e.team ? el('span', { class: 'team-tag', text: e.team }) : null, tx(e.text),
          el('span', { class: 'kind', text: e.kind })),
        e.points ? el('span', { class: 'pts ' + (e.points > 0 ? 'pos' : 'neg'), text: fmtPoints(e.points) }) : el('span'),
        data && data !== '{}' ? dataToggle(e.seq, data) : el('span')));
    }
    setText($('#log-count'), logLoading ? t('instr.log.loading') : t('instr.log.count', { n: match.length }));
    logNewest = 0; // animate a new entry once
  }

  const openData = new Set(); // seqs whose payload is shown

  function dataToggle(seq, data) {
    const frag = document.createDocumentFragment();
    const pre = el('pre', { class: 'data', text: data, hidden: !openData.has(seq) });
    const b = el('button', { type: 'button', class: 'data-toggle', text: '{…}', title: t('instr.log.data'),
      attrs: { 'aria-expanded': String(openData.has(seq)), 'aria-label': t('instr.log.data') } });
    b.addEventListener('click', () => {
      if (openData.has(seq)) openData.delete(seq); else openData.add(seq);
      pre.hidden = !openData.has(seq);
      b.setAttribute('aria-expanded', String(openData.has(seq)));
    });
    frag.append(b, pre);
    return frag;
  }

  async function loadLog() {
    if (logLoading) return;
    logLoading = true;
    scheduleLog();
    try {
      let after = 0;
      for (let i = 0; i < 10000; i++) {
        const r = await ICS.api('/api/events?after=' + after + '&limit=500', token);
        for (const e of r.events || []) addLog(e);
        const last = Number(r.last_seq) || 0;
        if ((r.events || []).length < 500 || last <= after) break;
        after = last;
      }
      logLoaded = true;
    } catch (e) {
      status('ctl-status', 'error', () => ICS.errText(e));
    } finally {
      logLoading = false;
      scheduleLog();
    }
  }

  // -------------------------------------------------------------- report

  async function downloadReport() {
    const fmt = $('#report-format').value || 'html';
    const btn = $('#report');
    btn.disabled = true;
    status('ctl-status', '', () => t('instr.report.busy'));
    try {
      const r = await ICS.api('/api/report?format=' + encodeURIComponent(fmt), token, { raw: true });
      const blob = await r.blob();
      let name = 'report-' + ((view && view.exercise && view.exercise.id) || 'icsrange') + '.' + fmt;
      name = name.replace(/[^A-Za-z0-9._-]/g, '_');
      const url = URL.createObjectURL(blob);
      const a = el('a', { href: url, download: name, hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status('ctl-status', 'ok', () => t('instr.report.done'));
    } catch (e) {
      status('ctl-status', 'error', () => ICS.errText(e));
    } finally {
      btn.disabled = false;
    }
  }

  // -------------------------------------------------------------- wiring

  function renderAll() {
    if (!view) return;
    // The first checksum seen per PLC is the known-good one to compare with.
    for (const tm of view.teams || []) {
      for (const p of tm.plcs || []) {
        const k = tm.name + '/' + p.id;
        if (!baseline.has(k) && p.checksum) baseline.set(k, p.checksum);
      }
    }
    renderHeader();
    renderSelects();
    renderTeams();
    renderDrill();
  }

  function control(op) {
    return cmd('ctl-status', 'control', { op }).then((r) => {
      status('ctl-status', 'ok', () => t('phase.' + (r.phase || '')));
    }, () => {});
  }

  $('#ctl-start').addEventListener('click', () => control('start'));
  $('#ctl-pause').addEventListener('click', () => control('pause'));
  $('#ctl-resume').addEventListener('click', () => control('resume'));
  $('#ctl-stop').addEventListener('click', () => { $('#stop-confirm').hidden = false; $('#ctl-stop-no').focus(); });
  $('#ctl-stop-no').addEventListener('click', () => { $('#stop-confirm').hidden = true; $('#ctl-stop').focus(); });
  $('#ctl-stop-yes').addEventListener('click', () => { $('#stop-confirm').hidden = true; control('stop'); });
  $('#report').addEventListener('click', downloadReport);

  function onSubmit(id, fn) {
    const form = $('#' + id);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      Promise.resolve().then(fn).catch(() => {}).finally(() => { btn.disabled = false; });
    });
  }

  onSubmit('f-inject', () => {
    const data = { inject: $('#inject-id').value };
    if ($('#inject-team').value) data.team = $('#inject-team').value;
    return cmd('inject-status', 'fire', data, 'instr.inject.fired');
  });
  onSubmit('f-hint', () => {
    const data = { hint: $('#hint-id').value };
    if ($('#hint-team').value) data.team = $('#hint-team').value;
    return cmd('hint-status', 'hint', data, 'instr.hint.done');
  });
  $('#hint-id').addEventListener('change', () => { if (view) renderSelects(); });
  onSubmit('f-adjust', () => {
    const points = parseInt($('#adjust-points').value, 10);
    if (!points) { $('#adjust-points').focus(); return null; }
    return cmd('adjust-status', 'adjust', { team: $('#adjust-team').value, points, reason: $('#adjust-reason').value.trim() }, 'instr.adjust.done')
      .then(() => { $('#adjust-points').value = ''; $('#adjust-reason').value = ''; });
  });
  onSubmit('f-broadcast', () => {
    const en = $('#bc-en').value.trim();
    const ja = $('#bc-ja').value.trim();
    if (!en && !ja) { $('#bc-en').focus(); return null; }
    return cmd('broadcast-status', 'broadcast', { en, ja }, 'instr.broadcast.done')
      .then(() => { $('#bc-en').value = ''; $('#bc-ja').value = ''; });
  });
  $('#drill-team').addEventListener('change', () => { drillTeam = $('#drill-team').value; if (view) { renderTeams(); renderDrill(); } });
  $('#log-team').addEventListener('change', scheduleLog);

  const gate = ICS.gate('instructor', (tok, fail) => {
    token = tok;
    traffic.setToken(tok);
    ws = new ICS.Conn({
      token: tok,
      onStatus: (s, x) => conn.set(s, x),
      onAuthError: () => { ws.stop(); fail('login.bad'); },
      onSnapshot: (d, fresh) => {
        if (d.role !== 'instructor') { ws.stop(); fail('login.wrongrole.instructor'); return; }
        if (fresh) { log.clear(); baseline.clear(); logLoaded = false; traffic.setTeam(''); } else traffic.resync();
        for (const e of d.events || []) addLog(e);
        view = d.view || null;
        renderAll();
        scheduleLog();
        if (!logLoaded) loadLog();
      },
      onEvent: (e) => { if (addLog(e)) { logNewest = e.seq; scheduleLog(); } },
      onTraffic: (b) => { if (b && b.team && b.team === traffic.team()) traffic.add(b); },
      onView: (v) => { if (v && v.injects) { view = v; renderAll(); } },
    });
    ws.start();
  });
  $('#signout').addEventListener('click', () => { if (ws) ws.stop(); gate.signOut(); });

  ICS.onLang(() => {
    renderAll();
    renderLog();
    for (const id of statusMsgs.keys()) renderStatus(id);
  });
})();
