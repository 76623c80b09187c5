// icsrange browser pages: shared helpers. Vanilla JS, no dependencies.
// Everything from the server is untrusted: it only ever reaches the DOM
// through textContent, attribute setters and SVG coordinates.
(function () {
  'use strict';

  // ---------------------------------------------------------------- i18n

  const I18N = {
    en: {
      'app.name': 'icsrange',
      'lang.label': 'Language',
      'conn.connecting': 'Connecting…',
      'conn.live': 'Live',
      'conn.reconnecting': 'Reconnecting in {s} s…',
      'conn.offline': 'Offline',
      'conn.label': 'Connection',
      'phase.created': 'Not started',
      'phase.running': 'Running',
      'phase.paused': 'Paused',
      'phase.ended': 'Ended',
      'banner.paused': 'PAUSED',
      'banner.paused.sub': 'The exercise clock is stopped.',
      'banner.created': 'Waiting for the instructor to start the exercise',
      'banner.ended': 'EXERCISE OVER',
      'banner.ended.sub': 'Final results',
      'clock.elapsed': 'Clock',
      'clock.left': 'Time left',
      'clock.progress': 'Exercise progress',
      'plant.normal': 'Normal',
      'plant.alarm': 'Alarm',
      'plant.incident': 'Incident',
      'obj.achieved': 'Achieved',
      'obj.failed': 'Failed',
      'obj.pending': 'Pending',
      'obj.partial': 'Partial',
      'sb.ranking': 'Ranking',
      'sb.rank': 'Rank',
      'sb.team': 'Team',
      'sb.score': 'Score',
      'sb.plant': 'Plant',
      'sb.timeline': 'Timeline',
      'sb.timeline.empty': 'Nothing has happened yet.',
      'sb.objectives': 'Objectives',
      'sb.latest': 'Latest',
      'sb.latest.empty': 'No events yet.',
      'sb.incidents': 'safety incidents so far: {n}',
      'sb.alarms': '{n} alarms',
      'sb.teams': '{n} teams',
      'msg.instructor': 'Instructor',
      'login.title.team': 'Team console',
      'login.title.instructor': 'Instructor console',
      'login.token': 'Access token',
      'login.help.team': 'Paste your team token. It is kept in this browser tab only and never put in a URL.',
      'login.help.instructor': 'Paste the instructor token (tokens.json). It is kept in this browser tab only.',
      'login.submit': 'Sign in',
      'login.signout': 'Sign out',
      'login.bad': 'That token was not accepted.',
      'login.wrongrole.team': 'That is not a team token. The instructor console is at /instructor.',
      'login.wrongrole.instructor': 'That is not the instructor token. Teams use /team.',
      'team.score': 'Score',
      'team.rank': 'Rank',
      'team.rank.of': '{rank} of {n}',
      'team.phase': 'Phase',
      'team.left': 'Time left',
      'team.hmi': 'Plant (HMI)',
      'team.hmi.offline': 'HMI offline',
      'team.hmi.offline.sub': 'The HMI host is down: no values are shown. The PLC itself still answers Modbus/TCP.',
      'team.hmi.endpoint': 'Modbus/TCP',
      'team.hmi.unit': 'unit {u}',
      'team.hmi.zone': 'zone {z}',
      'team.hmi.table.ir': 'Input registers',
      'team.hmi.table.hr': 'Holding registers',
      'team.hmi.table.co': 'Coils',
      'team.hmi.table.di': 'Discrete inputs',
      'team.hmi.on': 'ON',
      'team.hmi.off': 'OFF',
      'team.hmi.addr': 'Address',
      'team.feed': 'Feed',
      'team.feed.empty': 'No messages yet.',
      'team.objectives': 'Objectives',
      'team.obj.earned': '{e} / {p} pts',
      'team.questions': 'Questions',
      'team.questions.empty': 'No questions yet.',
      'team.q.attempts': '{left} of {n} attempts left',
      'team.q.penalty': '−{p} per wrong answer',
      'team.q.answer': 'Your answer',
      'team.q.submit': 'Submit',
      'team.q.solved': 'Solved',
      'team.q.noattempts': 'No attempts left',
      'team.q.correct': 'Correct!',
      'team.q.wrong': 'Wrong answer.',
      'team.q.wrong.detail': '{left} attempts left · −{p} points',
      'team.q.notrunning': 'Answers are accepted while the exercise is running.',
      'team.actions': 'Response actions',
      'team.actions.empty': 'No actions available.',
      'team.a.cost': 'Cost: {c} pts',
      'team.a.free': 'No cost',
      'team.a.take': 'Take action…',
      'team.a.confirm': 'Confirm',
      'team.a.cancel': 'Cancel',
      'team.a.confirm.q': 'Really do this? It costs {c} points.',
      'team.a.confirm.free': 'Really do this?',
      'team.a.used': 'Done (once only)',
      'team.a.cooldown': 'Cooling down: ready in {t} (exercise time)',
      'team.a.taken': 'Taken {n}×',
      'team.a.ok': 'Done.',
      'team.a.outcome': 'Result: {o}',
      'team.hints': 'Hints',
      'team.hints.empty': 'No hints.',
      'team.h.for': 'For: {q}',
      'team.h.cost': 'Costs {c} pts',
      'team.h.request': 'Get hint…',
      'team.h.confirm.q': 'Reveal this hint for {c} points?',
      'team.h.released': 'Hint',
      'team.h.locked': 'Released by the instructor only',
      'err.offline': 'Not connected; try again in a moment.',
      'err.timeout': 'No answer from the server.',
      'err.generic': 'Error: {m}',
      'instr.controls': 'Exercise control',
      'instr.start': 'Start',
      'instr.pause': 'Pause',
      'instr.resume': 'Resume',
      'instr.stop': 'Stop',
      'instr.stop.confirm': 'Stop the exercise for good? This cannot be undone.',
      'instr.yes': 'Yes',
      'instr.no': 'No',
      'instr.report': 'Download report',
      'instr.report.format': 'Format',
      'instr.report.busy': 'Preparing the report…',
      'instr.report.done': 'Report downloaded.',
      'instr.teams': 'Teams',
      'instr.team': 'Team',
      'instr.allteams': 'All teams',
      'instr.exerciseonly': 'Exercise-wide only',
      'instr.inject': 'Fire an inject',
      'instr.inject.pick': 'Inject',
      'instr.inject.fire': 'Fire',
      'instr.inject.manual': 'manual',
      'instr.trigger.at': 'at',
      'instr.trigger.after': 'after',
      'instr.trigger.when': 'when a condition holds',
      'instr.inject.fired': 'Inject fired.',
      'instr.hint': 'Release a hint',
      'instr.hint.pick': 'Hint',
      'instr.hint.release': 'Release',
      'instr.hint.done': 'Hint released.',
      'instr.adjust': 'Adjust a score',
      'instr.adjust.points': 'Points (±)',
      'instr.adjust.reason': 'Reason (teams see it)',
      'instr.adjust.apply': 'Apply',
      'instr.adjust.done': 'Score adjusted.',
      'instr.broadcast': 'Broadcast a message',
      'instr.broadcast.en': 'English',
      'instr.broadcast.ja': 'Japanese',
      'instr.broadcast.send': 'Send',
      'instr.broadcast.done': 'Message sent.',
      'instr.drill': 'Team detail',
      'instr.drill.pick': 'Show team',
      'instr.plc.mode': 'Mode',
      'instr.plc.program': 'Program',
      'instr.plc.checksum': 'Checksum',
      'instr.plc.checksum.changed': 'changed (was {c})',
      'instr.plc.faults': 'Faults',
      'instr.tag': 'Tag',
      'instr.truth': 'Truth',
      'instr.reported': 'Reported (HMI)',
      'instr.override': 'Override',
      'instr.differs': 'differs',
      'instr.hostsdown': 'Hosts down',
      'instr.cut': 'Conduits cut',
      'instr.fired': 'Injects fired',
      'instr.answers': 'Answers',
      'instr.answer.line': '{n} attempts · {c}',
      'instr.answer.correct': 'correct',
      'instr.answer.notyet': 'not solved',
      'instr.hints.released': 'Hints released',
      'instr.none': 'none',
      'instr.log': 'Event log',
      'instr.log.filter': 'Show',
      'instr.log.loading': 'Loading…',
      'instr.log.count': '{n} events',
      'instr.log.data': 'details',
      'instr.col.rank': '#',
      'instr.col.alarms': 'Alarms',
      'instr.col.incidents': 'Incidents',
      'instr.col.objectives': 'Objectives',
    },
    ja: {
      'app.name': 'icsrange',
      'lang.label': '言語',
      'conn.connecting': '接続中…',
      'conn.live': 'ライブ',
      'conn.reconnecting': '{s} 秒後に再接続…',
      'conn.offline': 'オフライン',
      'conn.label': '接続',
      'phase.created': '開始前',
      'phase.running': '実施中',
      'phase.paused': '一時停止',
      'phase.ended': '終了',
      'banner.paused': '一時停止中',
      'banner.paused.sub': '演習時計は止まっています。',
      'banner.created': '講師が演習を開始するのを待っています',
      'banner.ended': '演習終了',
      'banner.ended.sub': '最終結果',
      'clock.elapsed': '経過',
      'clock.left': '残り時間',
      'clock.progress': '演習の進行',
      'plant.normal': '正常',
      'plant.alarm': '警報',
      'plant.incident': '事故',
      'obj.achieved': '達成',
      'obj.failed': '失敗',
      'obj.pending': '未達',
      'obj.partial': '部分点',
      'sb.ranking': '順位',
      'sb.rank': '順位',
      'sb.team': 'チーム',
      'sb.score': '得点',
      'sb.plant': 'プラント',
      'sb.timeline': 'タイムライン',
      'sb.timeline.empty': 'まだ何も起きていません。',
      'sb.objectives': '目標',
      'sb.latest': '最新情報',
      'sb.latest.empty': 'イベントはまだありません。',
      'sb.incidents': 'これまでの事故 {n} 件',
      'sb.alarms': '警報 {n} 件',
      'sb.teams': '{n} チーム',
      'msg.instructor': '講師',
      'login.title.team': 'チームコンソール',
      'login.title.instructor': '講師コンソール',
      'login.token': 'アクセストークン',
      'login.help.team': 'チームのトークンを貼り付けてください。このタブ内にのみ保存され、URLには含まれません。',
      'login.help.instructor': '講師トークン（tokens.json）を貼り付けてください。このタブ内にのみ保存されます。',
      'login.submit': 'サインイン',
      'login.signout': 'サインアウト',
      'login.bad': 'トークンが受け付けられませんでした。',
      'login.wrongrole.team': 'これはチームのトークンではありません。講師コンソールは /instructor です。',
      'login.wrongrole.instructor': 'これは講師トークンではありません。チームは /team を使います。',
      'team.score': '得点',
      'team.rank': '順位',
      'team.rank.of': '{n} チーム中 {rank} 位',
      'team.phase': '状態',
      'team.left': '残り時間',
      'team.hmi': 'プラント（HMI）',
      'team.hmi.offline': 'HMI オフライン',
      'team.hmi.offline.sub': 'HMIホストが停止しているため値を表示できません。PLC自体はModbus/TCPで応答します。',
      'team.hmi.endpoint': 'Modbus/TCP',
      'team.hmi.unit': 'ユニット {u}',
      'team.hmi.zone': 'ゾーン {z}',
      'team.hmi.table.ir': '入力レジスタ',
      'team.hmi.table.hr': '保持レジスタ',
      'team.hmi.table.co': 'コイル',
      'team.hmi.table.di': 'ディスクリート入力',
      'team.hmi.on': 'オン',
      'team.hmi.off': 'オフ',
      'team.hmi.addr': 'アドレス',
      'team.feed': 'フィード',
      'team.feed.empty': 'メッセージはまだありません。',
      'team.objectives': '目標',
      'team.obj.earned': '{e} / {p} 点',
      'team.questions': '設問',
      'team.questions.empty': '設問はまだありません。',
      'team.q.attempts': '残り {left} / {n} 回',
      'team.q.penalty': '不正解ごとに −{p} 点',
      'team.q.answer': '回答',
      'team.q.submit': '送信',
      'team.q.solved': '正解済み',
      'team.q.noattempts': '回答回数を使い切りました',
      'team.q.correct': '正解！',
      'team.q.wrong': '不正解です。',
      'team.q.wrong.detail': '残り {left} 回 · −{p} 点',
      'team.q.notrunning': '回答は演習の実施中のみ受け付けます。',
      'team.actions': '対応アクション',
      'team.actions.empty': '実行できる対応はありません。',
      'team.a.cost': 'コスト: {c} 点',
      'team.a.free': 'コストなし',
      'team.a.take': '実行…',
      'team.a.confirm': '実行する',
      'team.a.cancel': 'キャンセル',
      'team.a.confirm.q': '本当に実行しますか？ {c} 点かかります。',
      'team.a.confirm.free': '本当に実行しますか？',
      'team.a.used': '実行済み（1回のみ）',
      'team.a.cooldown': 'クールダウン中：あと {t}（演習時間）',
      'team.a.taken': '{n} 回実行',
      'team.a.ok': '実行しました。',
      'team.a.outcome': '結果: {o}',
      'team.hints': 'ヒント',
      'team.hints.empty': 'ヒントはありません。',
      'team.h.for': '対象: {q}',
      'team.h.cost': '{c} 点',
      'team.h.request': 'ヒントを見る…',
      'team.h.confirm.q': '{c} 点を使ってこのヒントを表示しますか？',
      'team.h.released': 'ヒント',
      'team.h.locked': '講師のみが公開できます',
      'err.offline': '接続されていません。少し待ってから再試行してください。',
      'err.timeout': 'サーバーから応答がありません。',
      'err.generic': 'エラー: {m}',
      'instr.controls': '演習の操作',
      'instr.start': '開始',
      'instr.pause': '一時停止',
      'instr.resume': '再開',
      'instr.stop': '終了',
      'instr.stop.confirm': '演習を終了しますか？元に戻せません。',
      'instr.yes': 'はい',
      'instr.no': 'いいえ',
      'instr.report': 'レポートをダウンロード',
      'instr.report.format': '形式',
      'instr.report.busy': 'レポートを作成中…',
      'instr.report.done': 'レポートをダウンロードしました。',
      'instr.teams': 'チーム',
      'instr.team': 'チーム',
      'instr.allteams': '全チーム',
      'instr.exerciseonly': '演習全体のみ',
      'instr.inject': 'インジェクトの発火',
      'instr.inject.pick': 'インジェクト',
      'instr.inject.fire': '発火',
      'instr.inject.manual': '手動',
      'instr.trigger.at': '時刻',
      'instr.trigger.after': '後続',
      'instr.trigger.when': '条件成立時',
      'instr.inject.fired': 'インジェクトを発火しました。',
      'instr.hint': 'ヒントの公開',
      'instr.hint.pick': 'ヒント',
      'instr.hint.release': '公開',
      'instr.hint.done': 'ヒントを公開しました。',
      'instr.adjust': '得点調整',
      'instr.adjust.points': '点数（±）',
      'instr.adjust.reason': '理由（チームに表示）',
      'instr.adjust.apply': '適用',
      'instr.adjust.done': '得点を調整しました。',
      'instr.broadcast': '全体メッセージ',
      'instr.broadcast.en': '英語',
      'instr.broadcast.ja': '日本語',
      'instr.broadcast.send': '送信',
      'instr.broadcast.done': 'メッセージを送信しました。',
      'instr.drill': 'チーム詳細',
      'instr.drill.pick': '表示するチーム',
      'instr.plc.mode': 'モード',
      'instr.plc.program': 'プログラム',
      'instr.plc.checksum': 'チェックサム',
      'instr.plc.checksum.changed': '変更あり（元 {c}）',
      'instr.plc.faults': '故障',
      'instr.tag': 'タグ',
      'instr.truth': '実際値',
      'instr.reported': '表示値（HMI）',
      'instr.override': '改ざん',
      'instr.differs': '不一致',
      'instr.hostsdown': '停止中のホスト',
      'instr.cut': '遮断された通信経路',
      'instr.fired': '発火したインジェクト',
      'instr.answers': '回答',
      'instr.answer.line': '{n} 回 · {c}',
      'instr.answer.correct': '正解',
      'instr.answer.notyet': '未正解',
      'instr.hints.released': '公開済みヒント',
      'instr.none': 'なし',
      'instr.log': 'イベントログ',
      'instr.log.filter': '表示',
      'instr.log.loading': '読み込み中…',
      'instr.log.count': '{n} 件',
      'instr.log.data': '詳細',
      'instr.col.rank': '#',
      'instr.col.alarms': '警報',
      'instr.col.incidents': '事故',
      'instr.col.objectives': '目標',
    },
  };

  const LANGS = ['en', 'ja'];
  const store = {
    get(s, k) { try { return s.getItem(k); } catch (e) { return null; } },
    set(s, k, v) { try { s.setItem(k, v); } catch (e) { /* storage disabled */ } },
    del(s, k) { try { s.removeItem(k); } catch (e) { /* storage disabled */ } },
  };

  let lang = store.get(window.localStorage, 'icsrange.lang');
  if (!LANGS.includes(lang)) {
    lang = (navigator.language || '').toLowerCase().startsWith('ja') ? 'ja' : 'en';
  }
  const langListeners = [];

  // t translates a UI string, filling {name} placeholders.
  function t(key, params) {
    let s = I18N[lang][key];
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) s = key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] === undefined ? m : String(params[k])));
    }
    return s;
  }

  // tx picks a scenario text ({en, ja}) in the current language.
  function tx(text) {
    if (text == null) return '';
    if (typeof text === 'string') return text;
    const other = lang === 'en' ? 'ja' : 'en';
    return String(text[lang] || text[other] || '').trim();
  }

  function applyI18n(root) {
    (root || document).querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
    (root || document).querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
    (root || document).querySelectorAll('[data-i18n-aria]').forEach((e) => { e.setAttribute('aria-label', t(e.dataset.i18nAria)); });
    (root || document).querySelectorAll('[data-i18n-title]').forEach((e) => { e.title = t(e.dataset.i18nTitle); });
  }

  function setLang(l) {
    if (!LANGS.includes(l)) return;
    lang = l;
    store.set(window.localStorage, 'icsrange.lang', l);
    document.documentElement.lang = l;
    applyI18n(document);
    document.querySelectorAll('[data-lang-button]').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.langButton === l));
    });
    langListeners.forEach((f) => f(l));
  }

  function onLang(f) { langListeners.push(f); }

  // ------------------------------------------------------------------ DOM

  // el builds an element. props: class, text, i18n, testid, attrs, on, hidden,
  // type, value, and anything else as a property. Children: nodes, strings
  // (as text), arrays, null/false (skipped).
  function el(tag, props, ...children) {
    const svg = tag.startsWith('svg:');
    const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        switch (k) {
          case 'class': e.setAttribute('class', v); break;
          case 'text': e.textContent = v; break;
          case 'i18n': e.dataset.i18n = v; e.textContent = t(v); break;
          case 'testid': e.setAttribute('data-testid', v); break;
          case 'attrs': for (const [a, av] of Object.entries(v)) if (av !== null && av !== undefined) e.setAttribute(a, av); break;
          case 'on': for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn); break;
          case 'hidden': e.hidden = !!v; break;
          default:
            if (svg) e.setAttribute(k, v); else e[k] = v;
        }
      }
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(parent, c);
      else if (c instanceof Node) parent.appendChild(c);
      else parent.appendChild(document.createTextNode(String(c)));
    }
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

  function $(sel, root) { return (root || document).querySelector(sel); }

  // setText changes text only when it differs (no needless layout work).
  function setText(e, s) {
    s = String(s);
    if (e.textContent !== s) e.textContent = s;
  }

  // keyed reconciles container's children with items: one node per key,
  // created once, updated every time, in the items' order. Nodes keep their
  // state (inputs, open confirmations) across updates.
  function keyed(container, items, key, create, update) {
    const old = container._keyed || new Map();
    const next = new Map();
    let prev = null;
    for (const it of items) {
      const k = String(key(it));
      let n = old.get(k);
      if (!n) n = create(it, k);
      next.set(k, n);
      if (update) update(n, it, k);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== n) container.insertBefore(n, want);
      prev = n;
    }
    for (const [k, n] of old) if (!next.has(k)) n.remove();
    container._keyed = next;
    return next;
  }

  const reducedMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

  // flip reorders container's children with mutate() and slides each from
  // where it was to where it is (First, Last, Invert, Play).
  function flip(container, mutate) {
    const first = new Map();
    for (const c of container.children) first.set(c, c.getBoundingClientRect().top);
    mutate();
    if (reducedMotion()) return;
    for (const c of container.children) {
      const top = first.get(c);
      if (top === undefined) continue;
      const dy = top - c.getBoundingClientRect().top;
      if (Math.abs(dy) < 1) continue;
      if (c.animate) {
        c.animate([{ transform: `translateY(${dy}px)` }, { transform: 'translateY(0)' }],
          { duration: 700, easing: 'cubic-bezier(.2,.8,.2,1)' });
      }
    }
  }

  // countTo animates a number's text from its current value to v.
  function countTo(e, v, fmt) {
    fmt = fmt || String;
    const from = Number(e.dataset.value || 0);
    e.dataset.value = String(v);
    if (e._raf) cancelAnimationFrame(e._raf);
    if (from === v || reducedMotion() || document.hidden) { setText(e, fmt(v)); return; }
    const t0 = performance.now();
    const dur = 900;
    const step = (now) => {
      const p = Math.min(1, Math.max(0, (now - t0) / dur));
      const ease = 1 - Math.pow(1 - p, 3);
      setText(e, fmt(Math.round(from + (v - from) * ease)));
      if (p < 1) e._raf = requestAnimationFrame(step); else e._raf = 0;
    };
    e._raf = requestAnimationFrame(step);
  }

  // ----------------------------------------------------------- formatting

  function pad2(n) { return String(n).padStart(2, '0'); }

  function fmtClock(ms) {
    ms = Math.max(0, Math.floor(Number(ms) || 0));
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return (h > 0 ? h + ':' + pad2(m) : String(m).padStart(2, '0')) + ':' + pad2(s % 60);
  }

  function fmtPoints(p) {
    p = Number(p) || 0;
    if (p > 0) return '+' + p;
    if (p < 0) return '−' + Math.abs(p);
    return '0';
  }

  function fmtValue(v) {
    v = Number(v);
    if (!isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a >= 1000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(1);
    return v.toFixed(2);
  }

  function fmtScore(v) { return String(v); }

  // ------------------------------------------------------- common widgets

  function langSwitch() {
    const g = el('div', { class: 'lang-switch', attrs: { role: 'group' }, testid: 'lang-switch' });
    g.dataset.i18nAria = 'lang.label';
    g.setAttribute('aria-label', t('lang.label'));
    for (const [l, label] of [['en', 'EN'], ['ja', '日本語']]) {
      const b = el('button', { type: 'button', text: label, testid: 'lang-' + l,
        attrs: { 'data-lang-button': l, 'aria-pressed': String(l === lang), lang: l },
        on: { click: () => setLang(l) } });
      g.appendChild(b);
    }
    return g;
  }

  // connBadge shows a Conn's state; returns {node, set(state, extra)}.
  function connBadge() {
    const dot = el('span', { class: 'dot', attrs: { 'aria-hidden': 'true' } });
    const label = el('span', { class: 'conn-label' });
    const node = el('span', { class: 'conn conn-connecting', testid: 'conn-status', attrs: { role: 'status', 'aria-live': 'polite' } }, dot, label);
    let cur = ['connecting', null];
    const render = () => {
      const [state, extra] = cur;
      node.className = 'conn conn-' + state;
      node.dataset.state = state;
      setText(label, t('conn.' + state, extra || undefined));
    };
    render();
    onLang(render);
    return { node, set(state, extra) { cur = [state, extra]; render(); } };
  }

  function phaseBadge() {
    const node = el('span', { class: 'phase', testid: 'phase', attrs: { role: 'status' } });
    let cur = '';
    const render = () => {
      node.className = 'phase phase-' + (cur || 'created');
      node.dataset.phase = cur;
      setText(node, cur ? t('phase.' + cur) : '…');
    };
    onLang(render);
    render();
    return { node, set(p) { if (p !== cur) { cur = p; render(); } } };
  }

  // ------------------------------------------------------------ WebSocket

  // Conn is the WebSocket client: hello, snapshot, events, views and
  // commands; it reconnects with exponential backoff and resumes with the
  // last seq it saw, so no event is missed or shown twice.
  class Conn {
    constructor(opts) {
      this.opts = opts;
      this.token = opts.token || '';
      this.lastSeq = 0;
      this.ws = null;
      this.attempt = 0;
      this.stopped = false;
      this.live = false;
      this.pending = new Map();
      this.nextID = 0;
      this.timer = 0;
      this.exerciseID = '';
    }

    start() { this.stopped = false; this.connect(); }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.ws) { try { this.ws.close(); } catch (e) { /* closing */ } }
      this.ws = null;
    }

    status(state, extra) { if (this.opts.onStatus) this.opts.onStatus(state, extra); }

    connect() {
      clearTimeout(this.timer);
      if (this.stopped) return;
      this.status('connecting');
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this.retry();
        return;
      }
      this.ws = ws;
      this.live = false;
      ws.onopen = () => {
        const hello = {};
        if (this.token) hello.token = this.token;
        if (this.lastSeq > 0) hello.last_seq = this.lastSeq;
        ws.send(JSON.stringify({ type: 'hello', id: 'hello', data: hello }));
      };
      ws.onmessage = (ev) => {
        // A frame may carry several messages, one per line.
        for (const line of String(ev.data).split('\n')) {
          if (!line) continue;
          let m;
          try { m = JSON.parse(line); } catch (e) { continue; }
          if (!m || typeof m !== 'object') continue;
          this.handle(m);
        }
      };
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.live = false;
        for (const [, p] of this.pending) p.reject({ code: 'offline', message: t('err.offline') });
        this.pending.clear();
        if (this.authFailed || this.stopped) {
          this.status('offline');
          return;
        }
        this.retry();
      };
    }

    retry() {
      if (this.stopped) return;
      const base = Math.min(30000, 500 * Math.pow(2, this.attempt));
      const delay = Math.round(base / 2 + Math.random() * base / 2);
      this.attempt++;
      this.status('reconnecting', { s: Math.max(1, Math.round(delay / 1000)) });
      this.timer = setTimeout(() => this.connect(), delay);
    }

    handle(m) {
      const data = m.data || {};
      switch (m.type) {
        case 'snapshot': {
          this.attempt = 0;
          this.live = true;
          const view = data.view || {};
          const id = view.exercise && view.exercise.id;
          // A different exercise behind the same address: start afresh.
          const fresh = !data.resumed || (this.exerciseID && id && id !== this.exerciseID);
          if (id) this.exerciseID = id;
          this.lastSeq = Number(m.seq) || 0;
          for (const e of data.events || []) this.lastSeq = Math.max(this.lastSeq, Number(e.seq) || 0);
          this.status('live');
          if (this.opts.onSnapshot) this.opts.onSnapshot(data, fresh);
          break;
        }
        case 'event': {
          const seq = Number(m.seq || data.seq) || 0;
          if (seq && seq <= this.lastSeq) return; // already seen
          if (seq) this.lastSeq = seq;
          if (this.opts.onEvent) this.opts.onEvent(data);
          break;
        }
        case 'view':
          if (this.opts.onView) this.opts.onView(data);
          break;
        case 'reply':
        case 'error': {
          const p = m.id && this.pending.get(m.id);
          if (p) {
            this.pending.delete(m.id);
            clearTimeout(p.timer);
            if (m.type === 'reply') p.resolve(data); else p.reject(data);
            return;
          }
          if (m.type === 'error' && !this.live) {
            // The hello was refused.
            if (data.code === 'unauthorized') {
              this.authFailed = true;
              if (this.opts.onAuthError) this.opts.onAuthError(data);
            }
          }
          break;
        }
      }
    }

    // command sends {type, id, data} and resolves with the reply's data or
    // rejects with {code, message}.
    command(type, data) {
      return new Promise((resolve, reject) => {
        if (!this.ws || !this.live || this.ws.readyState !== WebSocket.OPEN) {
          reject({ code: 'offline', message: t('err.offline') });
          return;
        }
        const id = 'c' + (++this.nextID);
        const timer = setTimeout(() => {
          if (this.pending.delete(id)) reject({ code: 'timeout', message: t('err.timeout') });
        }, 20000);
        this.pending.set(id, { resolve, reject, timer });
        this.ws.send(JSON.stringify({ type, id, data: data || {} }));
      });
    }
  }

  // api calls the HTTP API with the bearer token (never in the URL).
  async function api(path, token, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
    if (token) headers.Authorization = 'Bearer ' + token;
    let body;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const r = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store', credentials: 'omit' });
    if (!r.ok) {
      let err = { code: 'http_' + r.status, message: r.status + ' ' + r.statusText };
      try {
        const j = await r.json();
        if (j && j.error) err = j.error;
      } catch (e) { /* not JSON */ }
      throw err;
    }
    return opts.raw ? r : r.json();
  }

  function errText(e) {
    if (!e) return t('err.generic', { m: '?' });
    if (e.code === 'offline' || e.code === 'timeout') return e.message || t('err.' + e.code);
    return t('err.generic', { m: e.message || e.code || String(e) });
  }

  // ------------------------------------------------------------ token gate

  // gate shows the token form until a token is accepted. role is 'team' or
  // 'instructor'. onToken(token, fail) starts the page; fail(key) reopens the
  // form with a message. The token lives in sessionStorage only.
  function gate(role, onToken) {
    const key = 'icsrange.token.' + role;
    const login = $('#login');
    const app = $('#app');
    const form = $('#login-form');
    const input = $('#token-input');
    const msg = $('#login-error');
    let started = false;
    const fail = (msgKey) => {
      store.del(window.sessionStorage, key);
      app.hidden = true;
      login.hidden = false;
      if (msgKey) {
        msg.dataset.i18n = msgKey;
        msg.textContent = t(msgKey);
        msg.hidden = false;
      }
      input.value = '';
      input.focus();
      started = false;
    };
    const go = (tok) => {
      if (started) return;
      started = true;
      store.set(window.sessionStorage, key, tok);
      login.hidden = true;
      app.hidden = false;
      msg.hidden = true;
      onToken(tok, fail);
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const tok = input.value.trim();
      if (tok) go(tok);
    });
    const saved = store.get(window.sessionStorage, key);
    if (saved) go(saved);
    else { login.hidden = false; app.hidden = true; input.focus(); }
    return {
      signOut() {
        store.del(window.sessionStorage, key);
        location.reload();
      },
    };
  }

  function init() {
    document.documentElement.lang = lang;
    applyI18n(document);
    document.querySelectorAll('[data-lang-slot]').forEach((s) => s.appendChild(langSwitch()));
  }

  window.ICS = {
    t, tx, setLang, onLang, lang: () => lang, applyI18n,
    el, clear, $, setText, keyed, flip, countTo, reducedMotion,
    fmtClock, fmtPoints, fmtValue, fmtScore,
    langSwitch, connBadge, phaseBadge, Conn, api, errText, gate, init, I18N,
  };
})();
