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
      'team.hmi.offline.sub.paused': 'The HMI host is frozen: no values are shown. The PLC itself still answers Modbus/TCP.',
      'team.hmi.offline.sub.disconnected': 'The HMI host is off the network: no values are shown. The PLC itself still answers Modbus/TCP.',
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
      'instr.hostspaused': 'Hosts paused',
      'instr.hostsoff': 'Hosts disconnected',
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
      'traffic.title': 'Traffic',
      'traffic.help': 'Every Modbus request your PLCs served, newest first. The table shows addresses; who is behind each is for you to find out.',
      'traffic.audit': 'PLC audit trail',
      'traffic.f.plc': 'PLC',
      'traffic.f.source': 'Source',
      'traffic.f.fc': 'Function',
      'traffic.f.writes': 'Writes only',
      'traffic.f.all': 'All',
      'traffic.f.clear': 'Clear filters',
      'traffic.older': 'Load older rows',
      'traffic.loading': 'Loading…',
      'traffic.shown': 'Rows shown: {n}',
      'traffic.nomore': 'Rows shown: {n} · no older rows',
      'traffic.empty': 'No Modbus traffic yet.',
      'traffic.nomatch': 'No rows match the filters.',
      'traffic.col.time': 'Time',
      'traffic.col.plc': 'PLC',
      'traffic.col.source': 'Source',
      'traffic.col.unit': 'Unit',
      'traffic.col.fc': 'Function',
      'traffic.col.addr': 'Address',
      'traffic.col.qty': 'Qty',
      'traffic.col.values': 'Values written',
      'traffic.col.tags': 'Tags',
      'traffic.col.result': 'Exception',
      'traffic.col.count': 'Count',
      'traffic.col.note': 'Note',
      'traffic.col.kind': 'Kind',
      'traffic.col.detail': 'Detail',
      'traffic.flood': '×{n} (flood)',
      'traffic.noreply': 'no reply',
      'traffic.ex': 'exception {c}',
      'traffic.fc.1': 'read coils',
      'traffic.fc.2': 'read discrete inputs',
      'traffic.fc.3': 'read holding registers',
      'traffic.fc.4': 'read input registers',
      'traffic.fc.5': 'write single coil',
      'traffic.fc.6': 'write single register',
      'traffic.fc.8': 'diagnostics',
      'traffic.fc.15': 'write multiple coils',
      'traffic.fc.16': 'write multiple registers',
      'traffic.fc.17': 'report server ID',
      'traffic.fc.22': 'mask write register',
      'traffic.fc.23': 'read/write multiple registers',
      'traffic.fc.43': 'read device identification',
      'traffic.ex.1': 'illegal function',
      'traffic.ex.2': 'illegal data address',
      'traffic.ex.3': 'illegal data value',
      'traffic.ex.4': 'server device failure',
      'traffic.ex.5': 'acknowledge',
      'traffic.ex.6': 'server device busy',
      'traffic.ex.10': 'gateway path unavailable',
      'traffic.ex.11': 'gateway target failed to respond',
      'audit.empty': 'No audit entries yet.',
      'audit.kind.connect': 'connect',
      'audit.kind.disconnect': 'disconnect',
      'audit.kind.refused': 'refused',
      'audit.kind.evicted': 'evicted',
      'audit.kind.frame-timeout': 'frame timeout',
      'audit.kind.exception': 'exception',
      'audit.kind.mode': 'mode change',
      'audit.kind.logic': 'logic change',
      'audit.kind.trip': 'trip',
      'audit.kind.bypass': 'bypass',
      'audit.kind.fault': 'fault',
      'team.hmi.writes': 'writes/min {n}',
      'team.hmi.writes.title': 'Modbus writes to this PLC in the last minute',
      'team.hmi.newtalker': 'new talker',
      'team.hmi.newtalkers': '{n} new talkers',
      'team.hmi.newtalker.title': 'A source that first talked to this PLC in the last minute: look for it in the Traffic panel.',
      'instr.plc.writes': 'Writes/min',
      'instr.plc.talkers': 'Talkers',
      'instr.plc.newtalkers': 'New talkers',
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
      'team.hmi.offline.sub.paused': 'HMIホストが応答しない（フリーズしている）ため値を表示できません。PLC自体はModbus/TCPで応答します。',
      'team.hmi.offline.sub.disconnected': 'HMIホストがネットワークから切り離されているため値を表示できません。PLC自体はModbus/TCPで応答します。',
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
      'instr.hostspaused': '一時停止中のホスト',
      'instr.hostsoff': '切断されたホスト',
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
      'traffic.title': '通信ログ',
      'traffic.help': 'PLCが処理したすべてのModbus要求（新しい順）。表示されるのはアドレスだけです。誰の通信かを突き止めるのは皆さんの仕事です。',
      'traffic.audit': 'PLC監査ログ',
      'traffic.f.plc': 'PLC',
      'traffic.f.source': '送信元',
      'traffic.f.fc': 'ファンクション',
      'traffic.f.writes': '書き込みのみ',
      'traffic.f.all': 'すべて',
      'traffic.f.clear': 'フィルタ解除',
      'traffic.older': 'さらに古い行を読み込む',
      'traffic.loading': '読み込み中…',
      'traffic.shown': '{n} 行を表示',
      'traffic.nomore': '{n} 行を表示 · これより古い行はありません',
      'traffic.empty': 'Modbus通信はまだありません。',
      'traffic.nomatch': 'フィルタに一致する行はありません。',
      'traffic.col.time': '時刻',
      'traffic.col.plc': 'PLC',
      'traffic.col.source': '送信元',
      'traffic.col.unit': 'ユニット',
      'traffic.col.fc': 'ファンクション',
      'traffic.col.addr': 'アドレス',
      'traffic.col.qty': '数',
      'traffic.col.values': '書き込み値',
      'traffic.col.tags': 'タグ',
      'traffic.col.result': '例外',
      'traffic.col.count': '件数',
      'traffic.col.note': '注記',
      'traffic.col.kind': '種別',
      'traffic.col.detail': '詳細',
      'traffic.flood': '×{n}（大量）',
      'traffic.noreply': '応答なし',
      'traffic.ex': '例外 {c}',
      'traffic.fc.1': 'コイル読み出し',
      'traffic.fc.2': 'ディスクリート入力読み出し',
      'traffic.fc.3': '保持レジスタ読み出し',
      'traffic.fc.4': '入力レジスタ読み出し',
      'traffic.fc.5': '単一コイル書き込み',
      'traffic.fc.6': '単一レジスタ書き込み',
      'traffic.fc.8': '診断',
      'traffic.fc.15': '複数コイル書き込み',
      'traffic.fc.16': '複数レジスタ書き込み',
      'traffic.fc.17': 'サーバーID報告',
      'traffic.fc.22': 'マスク書き込み',
      'traffic.fc.23': '複数レジスタ読み書き',
      'traffic.fc.43': 'デバイス識別読み出し',
      'traffic.ex.1': '不正なファンクション',
      'traffic.ex.2': '不正なデータアドレス',
      'traffic.ex.3': '不正なデータ値',
      'traffic.ex.4': 'サーバー機器障害',
      'traffic.ex.5': '受理（処理中）',
      'traffic.ex.6': 'サーバービジー',
      'traffic.ex.10': 'ゲートウェイ経路なし',
      'traffic.ex.11': 'ゲートウェイ先が応答なし',
      'audit.empty': '監査ログはまだありません。',
      'audit.kind.connect': '接続',
      'audit.kind.disconnect': '切断',
      'audit.kind.refused': '拒否',
      'audit.kind.evicted': '切断（枠を譲渡）',
      'audit.kind.frame-timeout': 'フレーム未完了',
      'audit.kind.exception': '例外応答',
      'audit.kind.mode': 'モード変更',
      'audit.kind.logic': 'ロジック変更',
      'audit.kind.trip': 'トリップ',
      'audit.kind.bypass': 'バイパス',
      'audit.kind.fault': '故障',
      'team.hmi.writes': '書き込み/分 {n}',
      'team.hmi.writes.title': '直近1分間のこのPLCへのModbus書き込み数',
      'team.hmi.newtalker': '新しい通信元',
      'team.hmi.newtalkers': '新しい通信元 {n}',
      'team.hmi.newtalker.title': '直近1分間に初めてこのPLCと通信した送信元があります。通信ログで探してください。',
      'instr.plc.writes': '書き込み/分',
      'instr.plc.talkers': '通信元',
      'instr.plc.newtalkers': '新しい通信元',
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
        case 'traffic':
          if (this.opts.onTraffic) this.opts.onTraffic(data);
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

  // ------------------------------------------------------------- traffic

  const TRAFFIC_DOM = 500; // rows in the table, unless the user pages back
  const TRAFFIC_MEM = 5000; // rows held
  const TRAFFIC_PAGE = 200; // rows per API read
  const AUDIT_DOM = 200;
  const AUDIT_MEM = 1000;
  const FC_KNOWN = [1, 2, 3, 4, 5, 6, 15, 16, 23, 43];
  let trafficSeq = 0;

  // hostOf is a source address without its port, as the API's source
  // filter takes it ("10.0.0.5:50211" → "10.0.0.5", "[::1]:502" → "::1").
  function hostOf(src) {
    src = String(src || '');
    const i = src.lastIndexOf(':');
    if (i > 0 && !src.slice(i).includes(']')) return src.slice(0, i).replace(/^\[+|\]+$/g, '');
    return src;
  }

  // fcName is "FC6 write single register".
  function fcName(fc) {
    fc = Number(fc) || 0;
    const k = 'traffic.fc.' + fc;
    const n = t(k);
    return 'FC' + fc + (n !== k ? ' ' + n : '');
  }

  function exName(ex) {
    ex = Number(ex) || 0;
    const k = 'traffic.ex.' + ex;
    const n = t(k);
    return n !== k ? n + ' (' + ex + ')' : t('traffic.ex', { c: ex });
  }

  // fmtMS is exercise time with tenths: 12:34.5.
  function fmtMS(ms) {
    ms = Math.max(0, Math.floor(Number(ms) || 0));
    return fmtClock(ms) + '.' + Math.floor((ms % 1000) / 100);
  }

  const TX_COLS = ['time', 'plc', 'source', 'unit', 'fc', 'addr', 'qty', 'values', 'tags', 'result', 'count'];
  const AUDIT_COLS = ['time', 'plc', 'kind', 'source', 'detail', 'count'];

  function txCell(c, r) {
    switch (c) {
      case 'time': return r.count > 1 && r.last_clock_ms ? fmtMS(r.clock_ms) + '–' + fmtMS(r.last_clock_ms) : fmtMS(r.clock_ms);
      case 'plc': return r.plc || '';
      case 'source': return r.source || '';
      case 'unit': return r.unit === undefined || r.unit === null ? '' : String(r.unit);
      case 'fc': return fcName(r.fc);
      case 'addr': return r.qty || r.addr ? String(r.addr) : '';
      case 'qty': return r.qty ? String(r.qty) : '';
      case 'values': return r.values || '';
      case 'tags': return String(r.tags || '').split(',').filter(Boolean).join(', ');
      case 'result': return r.no_reply ? t('traffic.noreply') : (r.exception ? exName(r.exception) : '');
      case 'count': return r.count > 1 ? t('traffic.flood', { n: r.count }) : '';
      case 'note': return r.note || '';
    }
    return '';
  }

  function auditCell(c, a) {
    switch (c) {
      case 'time': return fmtMS(a.clock_ms);
      case 'plc': return a.plc || '';
      case 'kind': { const k = 'audit.kind.' + a.kind; const n = t(k); return n !== k ? n : String(a.kind || ''); }
      case 'source': return a.source || '';
      case 'detail': return a.detail || '';
      case 'count': return a.count > 1 ? '×' + a.count : '';
    }
    return '';
  }

  // trafficLog is one team's Modbus traffic log and PLC audit trail, for
  // the team and instructor consoles: rows arrive in WebSocket batches
  // (add) and snapshots (seed); the filters apply at once to the rows held
  // and reload the newest matching rows from /api/traffic; "older" pages
  // back with before=. The table keeps at most TRAFFIC_DOM rows unless the
  // user asks for older ones. Everything reaches the DOM as text.
  // opts: {token, instructor (reads need &team=, shows the notes)}.
  function trafficLog(opts) {
    opts = opts || {};
    let token = opts.token || '';
    let team = '';
    const instructor = !!opts.instructor;
    const cols = instructor ? TX_COLS.concat(['note']) : TX_COLS;
    let rows = []; // ids ascending
    const ids = new Set();
    let audit = [];
    const auditIds = new Set();
    let plcs = [];
    const sources = new Set();
    const fcs = new Set(FC_KNOWN);
    const f = { plc: '', source: '', fc: '', writes: false };
    let domMax = TRAFFIC_DOM;
    let busy = 0;
    let err = null;
    let noOlder = false;
    let gen = 0; // bumped when the team or the filters change: older answers are dropped
    const uid = 'tl' + (++trafficSeq);

    const select = (name) => el('select', { id: uid + '-' + name, testid: 'traffic-filter-' + name });
    const fPLC = select('plc');
    const fSource = select('source');
    const fFC = select('fc');
    const fWrites = el('input', { type: 'checkbox', id: uid + '-writes', testid: 'traffic-filter-writes' });
    const clearBtn = el('button', { type: 'button', i18n: 'traffic.f.clear', testid: 'traffic-filter-clear' });
    const label = (key, ctl) => el('div', { class: 'tl-filter' }, el('label', { i18n: key, attrs: { for: ctl.id } }), ctl);
    const bar = el('div', { class: 'tl-bar', attrs: { role: 'group' } },
      label('traffic.f.plc', fPLC), label('traffic.f.source', fSource), label('traffic.f.fc', fFC),
      el('label', { class: 'tl-check', attrs: { for: fWrites.id } }, fWrites, el('span', { i18n: 'traffic.f.writes' })),
      clearBtn);
    const tbody = el('tbody', { testid: 'traffic-rows' });
    const table = el('table', { class: 'tbl tl-table', testid: 'traffic-table' },
      el('thead', {}, el('tr', {}, cols.map((c) => el('th', { class: 'c-' + c, i18n: 'traffic.col.' + c, attrs: { scope: 'col' } })))),
      tbody);
    const scroll = el('div', { class: 'tl-scroll', tabIndex: 0 }, table);
    const empty = el('p', { class: 'empty', testid: 'traffic-empty' });
    const older = el('button', { type: 'button', i18n: 'traffic.older', testid: 'traffic-older' });
    const info = el('span', { class: 'muted', testid: 'traffic-status', attrs: { role: 'status' } });
    const node = el('div', { class: 'tl', testid: 'traffic-log' }, bar, scroll, empty, el('div', { class: 'tl-foot' }, older, info));

    const abody = el('tbody', { testid: 'audit-rows' });
    const atable = el('table', { class: 'tbl tl-table', testid: 'audit-table' },
      el('thead', {}, el('tr', {}, AUDIT_COLS.map((c) => el('th', { class: 'c-' + c, i18n: 'traffic.col.' + c, attrs: { scope: 'col' } })))),
      abody);
    const aempty = el('p', { class: 'empty', i18n: 'audit.empty', testid: 'audit-empty' });
    const auditNode = el('div', { class: 'tl', testid: 'audit-log' }, el('div', { class: 'tl-scroll tl-audit', tabIndex: 0 }, atable), aempty);

    const match = (r) => (!f.plc || r.plc === f.plc) && (!f.source || hostOf(r.source) === f.source) &&
      (!f.fc || Number(r.fc) === Number(f.fc)) && (!f.writes || !!r.write);
    const matchAudit = (a) => (!f.plc || a.plc === f.plc) && (!f.source || hostOf(a.source) === f.source);

    function merge(list) {
      let unordered = false;
      for (const r of list || []) {
        if (!r || typeof r.id !== 'number' || ids.has(r.id)) continue;
        if (rows.length && r.id < rows[rows.length - 1].id) unordered = true;
        ids.add(r.id);
        rows.push(r);
        if (r.source) sources.add(hostOf(r.source));
        if (r.fc) fcs.add(Number(r.fc));
      }
      if (unordered) rows.sort((a, b) => a.id - b.id);
      if (rows.length > TRAFFIC_MEM) for (const old of rows.splice(0, rows.length - TRAFFIC_MEM)) ids.delete(old.id);
    }

    function mergeAudit(list) {
      let unordered = false;
      for (const a of list || []) {
        if (!a || typeof a.id !== 'number' || auditIds.has(a.id)) continue;
        if (audit.length && a.id < audit[audit.length - 1].id) unordered = true;
        auditIds.add(a.id);
        audit.push(a);
        if (a.source) sources.add(hostOf(a.source));
      }
      if (unordered) audit.sort((a, b) => a.id - b.id);
      if (audit.length > AUDIT_MEM) for (const old of audit.splice(0, audit.length - AUDIT_MEM)) auditIds.delete(old.id);
    }

    function options(sel, values, label, cur) {
      const items = [''].concat(values);
      if (cur && !items.includes(cur)) items.push(cur);
      keyed(sel, items, (v) => 'o:' + v, (v) => el('option', { value: v }), (o, v) => setText(o, v ? label(v) : t('traffic.f.all')));
      if (sel.value !== cur) sel.value = cur;
    }

    function renderOptions() {
      const ps = plcs.slice();
      for (const r of rows) if (r.plc && !ps.includes(r.plc)) ps.push(r.plc);
      options(fPLC, ps, String, f.plc);
      options(fSource, Array.from(sources).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })), String, f.source);
      options(fFC, Array.from(fcs).sort((a, b) => a - b).map(String), fcName, f.fc);
      fWrites.checked = f.writes;
    }

    function render() {
      renderOptions();
      const shown = [];
      for (let i = rows.length - 1; i >= 0 && shown.length < domMax; i--) if (match(rows[i])) shown.push(rows[i]);
      keyed(tbody, shown, (r) => r.id, (r) => {
        const tr = el('tr', { class: (r.write ? 'tl-write ' : '') + (r.exception || r.no_reply ? 'tl-ex ' : '') + (r.count > 1 ? 'tl-flood' : ''),
          attrs: { 'data-id': String(r.id), 'data-plc': r.plc, 'data-source': hostOf(r.source), 'data-fc': String(r.fc), 'data-write': String(!!r.write) } });
        for (const c of cols) tr.appendChild(el('td', { class: 'c-' + c }));
        return tr;
      }, (tr, r) => {
        cols.forEach((c, i) => setText(tr.children[i], txCell(c, r)));
      });
      scroll.hidden = shown.length === 0;
      empty.hidden = shown.length > 0;
      setText(empty, rows.length ? t('traffic.nomatch') : t('traffic.empty'));
      older.hidden = !ready();
      older.disabled = busy > 0 || noOlder;
      let st = t(noOlder ? 'traffic.nomore' : 'traffic.shown', { n: shown.length });
      if (busy) st = t('traffic.loading');
      else if (err) st = errText(err);
      setText(info, st);
      info.className = err ? 'error' : 'muted';

      const ashown = [];
      for (let i = audit.length - 1; i >= 0 && ashown.length < AUDIT_DOM; i--) if (matchAudit(audit[i])) ashown.push(audit[i]);
      keyed(abody, ashown, (a) => a.id, (a) => {
        const bad = ['refused', 'exception', 'evicted', 'frame-timeout'].includes(a.kind);
        const warn = ['mode', 'logic', 'trip', 'bypass', 'fault'].includes(a.kind);
        const tr = el('tr', { class: bad ? 'tl-ex' : (warn ? 'tl-warn' : ''), attrs: { 'data-kind': String(a.kind || '') } });
        for (const c of AUDIT_COLS) tr.appendChild(el('td', { class: 'c-' + c }));
        return tr;
      }, (tr, a) => {
        AUDIT_COLS.forEach((c, i) => setText(tr.children[i], auditCell(c, a)));
      });
      atable.parentNode.hidden = ashown.length === 0;
      aempty.hidden = ashown.length > 0;
    }

    let queued = false;
    function schedule() {
      if (queued) return;
      queued = true;
      setTimeout(() => { queued = false; render(); }, 20);
    }

    const ready = () => !!token && (!instructor || !!team);

    function url(path, params) {
      const q = new URLSearchParams();
      if (team) q.set('team', team);
      for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null && v !== false) q.set(k, String(v));
      return path + '?' + q.toString();
    }

    // filtered is the API's form of the filters.
    const filtered = () => ({ plc: f.plc, source: f.source.includes(':') ? '[' + f.source + ']' : f.source, fc: f.fc, writes: f.writes ? 1 : '' });

    async function read(path, params) {
      const g = gen;
      busy++;
      err = null;
      schedule();
      try {
        const r = await api(url(path, params), token);
        return g === gen ? r : null;
      } catch (e) {
        if (g === gen) err = e;
        return null;
      } finally {
        busy--;
        schedule();
      }
    }

    // reload reads the newest rows that match the filters, and the audit
    // trail of the chosen PLC.
    async function reload() {
      if (!ready()) return;
      const [tr, au] = await Promise.all([
        read('/api/traffic', Object.assign(filtered(), { newest: 1, limit: TRAFFIC_PAGE })),
        read('/api/audit', { plc: f.plc, newest: 1, limit: 100 }),
      ]);
      if (tr) {
        merge(tr.traffic);
        if ((tr.traffic || []).length < TRAFFIC_PAGE) noOlder = true;
      }
      if (au) mergeAudit(au.audit);
      schedule();
    }

    // loadOlder shows older matching rows: those held first, then a page
    // from the API before the oldest one held.
    async function loadOlder() {
      if (!ready() || busy) return;
      let held = 0;
      let oldest = 0;
      for (const r of rows) if (match(r)) { held++; if (!oldest) oldest = r.id; }
      if (held > domMax) {
        domMax = Math.min(held, domMax + TRAFFIC_PAGE);
        schedule();
        return;
      }
      const r = await read('/api/traffic', Object.assign(filtered(), { before: oldest || '', newest: 1, limit: TRAFFIC_PAGE }));
      if (!r) return;
      const got = r.traffic || [];
      merge(got);
      domMax = Math.max(domMax, held + got.length);
      if (got.length < TRAFFIC_PAGE) noOlder = true;
      schedule();
    }

    // catchUp reads what came while the connection was down.
    async function catchUp(afterTx, afterAudit) {
      if (!ready()) return;
      const [tr, au] = await Promise.all([
        afterTx ? read('/api/traffic', { after: afterTx, limit: 1000 }) : null,
        afterAudit ? read('/api/audit', { after: afterAudit, limit: 1000 }) : null,
      ]);
      if (tr) merge(tr.traffic);
      if (au) mergeAudit(au.audit);
      schedule();
    }

    function onFilter() {
      const plcChanged = f.plc !== fPLC.value;
      f.plc = fPLC.value;
      f.source = fSource.value;
      f.fc = fFC.value;
      f.writes = fWrites.checked;
      domMax = TRAFFIC_DOM;
      noOlder = false;
      gen++;
      render();
      reload();
      if (plcChanged) scroll.scrollTop = 0;
    }
    for (const c of [fPLC, fSource, fFC, fWrites]) c.addEventListener('change', onFilter);
    clearBtn.addEventListener('click', () => {
      fPLC.value = '';
      fSource.value = '';
      fFC.value = '';
      fWrites.checked = false;
      onFilter();
    });
    older.addEventListener('click', loadOlder);
    onLang(render);
    render();

    function clearAll() {
      rows = [];
      ids.clear();
      audit = [];
      auditIds.clear();
      sources.clear();
      domMax = TRAFFIC_DOM;
      noOlder = false;
      err = null;
      gen++;
    }

    return {
      node,
      auditNode,
      // seed takes a snapshot's rows; after a reconnect it also reads
      // what the snapshot does not cover.
      seed(traffic, auditRows, fresh) {
        if (fresh) clearAll();
        const lastTx = rows.length ? rows[rows.length - 1].id : 0;
        const lastAudit = audit.length ? audit[audit.length - 1].id : 0;
        merge(traffic);
        mergeAudit(auditRows);
        if (lastTx || lastAudit) catchUp(lastTx, lastAudit);
        schedule();
      },
      // add takes a live batch.
      add(batch) {
        merge(batch && batch.traffic);
        mergeAudit(batch && batch.audit);
        schedule();
      },
      // resync after a reconnect without rows in the snapshot (instructor).
      resync() {
        if (rows.length || audit.length) catchUp(rows.length ? rows[rows.length - 1].id : 0, audit.length ? audit[audit.length - 1].id : 0);
        else reload();
      },
      setPLCs(list) {
        const next = (list || []).map(String);
        if (next.join('\n') !== plcs.join('\n')) { plcs = next; schedule(); }
      },
      setToken(tok) { token = tok || ''; },
      // setTeam shows another team's log (instructor).
      setTeam(name) {
        if (name === team) return;
        team = name || '';
        clearAll();
        render();
        reload();
      },
      team: () => team,
      render,
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
    trafficLog, hostOf, fcName,
  };
})();
