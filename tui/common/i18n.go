package common

import "fmt"

// uiStrings holds every UI string in English and Japanese. Scenario texts
// carry their own translations. A string with verbs is a format for
// Common.F; one whose words depend on a number is in counts.
var uiStrings = map[string][2]string{
	"plant":          {"Plant", "プラント"},
	"feed":           {"Feed", "フィード"},
	"objectives":     {"Objectives", "目標"},
	"questions":      {"Questions", "設問"},
	"actions":        {"Actions", "対応"},
	"hints":          {"Hints", "ヒント"},
	"help":           {"Help", "ヘルプ"},
	"team":           {"Team", "チーム"},
	"score":          {"Score", "得点"},
	"rank":           {"Rank", "順位"},
	"time left":      {"%s left", "残り %s"},
	"created":        {"waiting to start", "開始待ち"},
	"running":        {"running", "実施中"},
	"paused":         {"PAUSED", "一時停止中"},
	"ended":          {"ended", "終了"},
	"final ranking":  {"Exercise ended — final ranking", "演習終了 — 最終順位"},
	"your team":      {"your team", "自チーム"},
	"connecting":     {"connecting…", "接続中…"},
	"connected":      {"connected", "接続済み"},
	"reconnecting":   {"reconnecting", "再接続中"},
	"rejected":       {"token rejected", "トークンが無効です"},
	"hmi offline":    {"HMI offline — the PLC still answers Modbus at", "HMIオフライン — PLCはModbusで応答しています："},
	"hmi paused":     {"HMI frozen — the PLC still answers Modbus at", "HMI応答なし（フリーズ） — PLCはModbusで応答しています："},
	"hmi cut off":    {"HMI off the network — the PLC still answers Modbus at", "HMIはネットワークから切断 — PLCはModbusで応答しています："},
	"no data":        {"Waiting for the server…", "サーバーからのデータを待っています…"},
	"pending":        {"pending", "未達成"},
	"achieved":       {"achieved", "達成"},
	"failed":         {"failed", "失敗"},
	"points":         {"pts", "点"},
	"answered":       {"answered", "回答済み"},
	"penalty":        {"a wrong answer costs %s", "誤答は%sの減点"},
	"answer prompt":  {"Your answer (enter to submit, esc to cancel):", "回答を入力（Enterで送信、Escで取消）："},
	"correct":        {"Correct!", "正解！"},
	"wrong":          {"Wrong answer (−%d) · %s", "不正解（−%d）・%s"},
	"no attempts":    {"no attempts left", "回答回数がありません"},
	"cost":           {"cost %d", "コスト %d"},
	"confirm action": {"Take this action?", "この対応を実行しますか？"},
	"confirm hint":   {"Buy the hint “%s” for %d points?", "ヒント「%s」を%d点で購入しますか？"},
	"yes no":         {"y = yes, n = no", "y = はい、n = いいえ"},
	"ready":          {"ready", "実行可能"},
	"used":           {"used", "実施済み"},
	"ready in":       {"ready in %s", "あと%sで再実行可"},
	"action done":    {"Action taken", "対応を実行しました"},
	"action outcome": {"Action taken: %s", "対応を実行しました：%s"},
	"ok":             {"ok", "成功"},
	"blocked":        {"blocked", "遮断"},
	"error":          {"error", "エラー"},
	"released":       {"released", "公開済み"},
	"no questions":   {"No questions yet.", "設問はまだありません。"},
	"no actions":     {"No actions in this scenario.", "このシナリオに対応はありません。"},
	"no hints":       {"No hints available.", "利用できるヒントはありません。"},
	"empty feed":     {"Nothing has happened yet.", "まだ何も起きていません。"},
	"modbus":         {"Modbus", "Modbus"},
	"unit":           {"unit", "ユニット"},
	"alarms":         {"Alarms", "警報"},
	"no alarms":      {"no alarms", "警報なし"},
	"setpoints":      {"Setpoints", "設定値"},
	"commands":       {"Modes and commands", "モード・指令"},
	"lang":           {"English", "日本語"},
	// The traffic page and the plant page's traffic indicators.
	"traffic":         {"Traffic", "通信"},
	"audit":           {"audit", "監査ログ"},
	"traffic log":     {"traffic", "通信ログ"},
	"no traffic":      {"No Modbus traffic yet.", "Modbus通信はまだありません。"},
	"no audit":        {"No audit entries yet.", "監査ログはまだありません。"},
	"no match":        {"Nothing matches the filters (c clears them).", "フィルタに一致する行はありません（cで解除）。"},
	"all":             {"all", "すべて"},
	"filter plc":      {"PLC", "PLC"},
	"filter source":   {"source", "送信元"},
	"filter fc":       {"FC", "FC"},
	"filter writes":   {"writes only", "書込のみ"},
	"filter all reqs": {"reads+writes", "読み書き"},
	"filter clear":    {"clear", "解除"},

	"writes/min":       {"writes/min", "書込/分"},
	"new talker":       {"new talker", "新規通信元"},
	"flood":            {"flood", "大量"},
	"no reply":         {"no reply", "応答なし"},
	"col time":         {"time", "時刻"},
	"col plc":          {"PLC", "PLC"},
	"col source":       {"source", "送信元"},
	"col function":     {"function", "ファンクション"},
	"col addr":         {"addr/n", "番地/数"},
	"col unit":         {"unit", "局"},
	"col detail":       {"written · tags · result", "書込値・タグ・結果"},
	"col kind":         {"kind", "種別"},
	"col audit detail": {"detail", "詳細"},
	"fc 1":             {"read coils", "コイル読出"},
	"fc 2":             {"read DI", "入力読出"},
	"fc 3":             {"read HR", "保持読出"},
	"fc 4":             {"read IR", "入力レジ読出"},
	"fc 5":             {"write coil", "コイル書込"},
	"fc 6":             {"write reg", "レジ書込"},
	"fc 8":             {"diagnostics", "診断"},
	"fc 15":            {"write coils", "複数コイル書込"},
	"fc 16":            {"write regs", "複数レジ書込"},
	"fc 17":            {"server id", "サーバID"},
	"fc 22":            {"mask write", "マスク書込"},
	"fc 23":            {"r/w regs", "レジ読書"},
	"fc 43":            {"device id", "機器識別"},
	"fc long 1":        {"read coils", "コイル読み出し"},
	"fc long 2":        {"read discrete inputs", "ディスクリート入力読み出し"},
	"fc long 3":        {"read holding registers", "保持レジスタ読み出し"},
	"fc long 4":        {"read input registers", "入力レジスタ読み出し"},
	"fc long 5":        {"write single coil", "単一コイル書き込み"},
	"fc long 6":        {"write single register", "単一レジスタ書き込み"},
	"fc long 8":        {"diagnostics", "診断"},
	"fc long 15":       {"write multiple coils", "複数コイル書き込み"},
	"fc long 16":       {"write multiple registers", "複数レジスタ書き込み"},
	"fc long 17":       {"report server ID", "サーバーID報告"},
	"fc long 22":       {"mask write register", "マスク書き込み"},
	"fc long 23":       {"read/write multiple registers", "複数レジスタ読み書き"},
	"fc long 43":       {"read device identification", "デバイス識別読み出し"},
	"ex 1":             {"illegal function", "不正なファンクション"},
	"ex 2":             {"illegal data address", "不正なデータアドレス"},
	"ex 3":             {"illegal data value", "不正なデータ値"},
	"ex 4":             {"server device failure", "サーバー機器障害"},
	"ex 5":             {"acknowledge", "受理（処理中）"},
	"ex 6":             {"server busy", "サーバービジー"},
	"ex 10":            {"gateway path unavailable", "ゲートウェイ経路なし"},
	"ex 11":            {"gateway target no response", "ゲートウェイ先応答なし"},
	"exception":        {"exception", "例外"},
	"kind connect":     {"connect", "接続"},
	"kind disconnect":  {"disconnect", "切断"},
	"kind refused":     {"refused", "拒否"},
	"kind exception":   {"exception", "例外応答"},
	"kind mode":        {"mode", "モード変更"},
	"kind logic":       {"logic", "ロジック変更"},
	"kind trip":        {"trip", "トリップ"},
	"kind bypass":      {"bypass", "バイパス"},
	"kind fault":       {"fault", "故障"},

	// Connection slots a PLC took back.
	"kind evicted":       {"evicted", "切断（枠を譲渡）"},
	"kind frame-timeout": {"frame timeout", "フレーム未完了"},
	// Key help (KeyMap.In).
	"key next page":           {"next page", "次のページ"},
	"key previous page":       {"previous page", "前のページ"},
	"key go to page":          {"go to page", "ページへ移動"},
	"key up":                  {"up", "上へ"},
	"key down":                {"down", "下へ"},
	"key select":              {"select", "選択"},
	"key cancel":              {"cancel", "取消"},
	"key yes":                 {"yes", "はい"},
	"key no":                  {"no", "いいえ"},
	"key help":                {"help", "ヘルプ"},
	"key quit":                {"quit", "終了"},
	"key page up":             {"page up", "前ページ"},
	"key page down":           {"page down", "次ページ"},
	"key cycle PLC":           {"cycle PLC", "PLC切替"},
	"key cycle source":        {"cycle source", "送信元切替"},
	"key cycle function":      {"cycle function", "FC切替"},
	"key writes only":         {"writes only", "書込のみ"},
	"key traffic/audit":       {"traffic/audit", "通信/監査"},
	"key clear filters":       {"clear filters", "フィルタ解除"},
	"key newest/oldest first": {"newest/oldest first", "新しい順/古い順"},
	"newest first":            {"newest first", "新しい順"},
	"oldest first":            {"oldest first", "古い順"},
}

// counts are the UI strings that hold a number: English's singular and
// plural (CLDR: "one" is exactly 1), and Japanese, which has one form.
var counts = map[string][3]string{
	"attempts left": {"%d attempt left", "%d attempts left", "残り%d回"},
	"points":        {"%d point", "%d points", "%d点"},
	// shown/total rows, worded by the total.
	"rows": {"%[2]d/%[1]d row", "%[2]d/%[1]d rows", "%[2]d/%[1]d行"},
}

// Translate returns the UI string in lang ("en" or "ja"); unknown keys are
// returned as they are (ids, and words from the server).
func Translate(lang, key string) string {
	s, ok := uiStrings[key]
	if !ok {
		return key
	}
	if lang == "ja" {
		return s[1]
	}
	return s[0]
}

// Count words n of something in lang: "1 attempt left", "2 attempts left",
// "残り2回". More numbers for the format may follow n.
func Count(lang, key string, n int, more ...any) string {
	f, ok := counts[key]
	if !ok {
		return fmt.Sprint(n, " ", key)
	}
	form := f[1]
	switch {
	case lang == "ja":
		form = f[2]
	case n == 1:
		form = f[0]
	}
	return fmt.Sprintf(form, append([]any{n}, more...)...)
}
