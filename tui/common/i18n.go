package common

// strings holds every UI string in English and Japanese. Scenario texts
// carry their own translations.
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
	"left":           {"left", "残り"},
	"created":        {"waiting to start", "開始待ち"},
	"running":        {"running", "実施中"},
	"paused":         {"PAUSED", "一時停止中"},
	"ended":          {"ended", "終了"},
	"connecting":     {"connecting…", "接続中…"},
	"connected":      {"connected", "接続済み"},
	"reconnecting":   {"reconnecting", "再接続中"},
	"rejected":       {"token rejected", "トークンが無効です"},
	"hmi offline":    {"HMI offline — the PLC still answers Modbus at", "HMIオフライン — PLCはModbusで応答しています："},
	"no data":        {"Waiting for the server…", "サーバーからのデータを待っています…"},
	"pending":        {"pending", "未達成"},
	"achieved":       {"achieved", "達成"},
	"failed":         {"failed", "失敗"},
	"points":         {"pts", "点"},
	"answered":       {"answered", "回答済み"},
	"attempts left":  {"attempts left", "残り回答回数"},
	"penalty":        {"wrong answer costs", "誤答の減点"},
	"answer prompt":  {"Your answer (enter to submit, esc to cancel):", "回答を入力（Enterで送信、Escで取消）："},
	"correct":        {"Correct!", "正解！"},
	"wrong":          {"Wrong answer", "不正解"},
	"no attempts":    {"no attempts left", "回答回数がありません"},
	"cost":           {"cost", "コスト"},
	"confirm action": {"Take this action?", "この対応を実行しますか？"},
	"confirm hint":   {"Buy this hint?", "このヒントを購入しますか？"},
	"yes no":         {"y = yes, n = no", "y = はい、n = いいえ"},
	"ready":          {"ready", "実行可能"},
	"used":           {"used", "実施済み"},
	"ready in":       {"ready in", "再実行まで"},
	"action done":    {"Action taken", "対応を実行しました"},
	"blocked":        {"blocked", "遮断"},
	"released":       {"released", "公開済み"},
	"for":            {"for", "対象"},
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
	// Key help (KeyMap.In).
	"key next page":     {"next page", "次のページ"},
	"key previous page": {"previous page", "前のページ"},
	"key go to page":    {"go to page", "ページへ移動"},
	"key up":            {"up", "上へ"},
	"key down":          {"down", "下へ"},
	"key select":        {"select", "選択"},
	"key cancel":        {"cancel", "取消"},
	"key yes":           {"yes", "はい"},
	"key no":            {"no", "いいえ"},
	"key help":          {"help", "ヘルプ"},
	"key quit":          {"quit", "終了"},
	"key page up":       {"page up", "前ページ"},
	"key page down":     {"page down", "次ページ"},
}

// Translate returns the UI string in lang ("en" or "ja"); unknown keys are
// returned as they are.
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
