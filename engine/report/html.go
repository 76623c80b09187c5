package report

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/icsrange/icsrange/engine/scenario"
)

//go:embed report.html.tmpl
var pageTemplate string

// labels are the report's own words in both languages.
var labels = map[string][2]string{
	"report":       {"After-action report", "事後レビュー報告書"},
	"summary":      {"Summary", "概要"},
	"ranking":      {"Final ranking", "最終順位"},
	"scores":       {"Score over time", "得点の推移"},
	"team":         {"Team", "チーム"},
	"score":        {"Score", "得点"},
	"rank":         {"Rank", "順位"},
	"incidents":    {"Safety incidents", "安全事象"},
	"ttd":          {"Time to detect", "検知までの時間"},
	"ttc":          {"Time to contain", "封じ込めまでの時間"},
	"objectives":   {"Objectives", "目標"},
	"objective":    {"Objective", "目標"},
	"status":       {"Status", "結果"},
	"earned":       {"Points", "得点"},
	"at":           {"At", "時刻"},
	"timeline":     {"Timeline", "タイムライン"},
	"injects":      {"Injects and their effects", "インジェクトと効果"},
	"answers":      {"Answers", "回答"},
	"charts":       {"Process charts", "プロセスチャート"},
	"truth":        {"truth (the plant)", "実値（プラント）"},
	"hmi":          {"what the HMI showed", "HMI表示"},
	"setpoint":     {"setpoint", "設定値"},
	"limit":        {"alarm limit", "警報設定値"},
	"gap":          {"HMI ≠ truth", "HMI表示≠実値"},
	"smoothed":     {"noisy: the line is a 30 s moving average, the raw samples faint behind it", "ノイズ大：線は30秒移動平均、背景は生データ"},
	"steady":       {"Steady values (they moved by sensor noise only)", "変化のなかった値（センサノイズのみ）"},
	"value":        {"Value", "値"},
	"mean":         {"Mean ± noise (σ)", "平均 ± ノイズ（σ）"},
	"build":        {"icsrange", "icsrange"},
	"made by":      {"Report written by", "報告書の作成"},
	"diverged":     {"HMI and reality disagreed", "HMI表示と実際が食い違った"},
	"scenario":     {"Scenario", "シナリオ"},
	"duration":     {"Duration", "時間"},
	"reached":      {"Exercise time reached", "到達した演習時間"},
	"teams":        {"Teams", "チーム数"},
	"started":      {"Started", "開始"},
	"ended":        {"Ended", "終了"},
	"recoveries":   {"Engine restarts", "エンジン再起動"},
	"achieved":     {"achieved", "達成"},
	"failed":       {"failed", "失敗"},
	"pending":      {"not achieved", "未達成"},
	"never":        {"—", "—"},
	"correct":      {"correct", "正解"},
	"wrong":        {"wrong", "不正解"},
	"question":     {"Question", "設問"},
	"answer":       {"Answer", "回答"},
	"effect":       {"Effect", "効果"},
	"outcome":      {"Outcome", "結果"},
	"time":         {"Time", "時刻"},
	"event":        {"Event", "出来事"},
	"change":       {"Change", "増減"},
	"no charts":    {"No plant samples were recorded.", "プラントのサンプルは記録されていません。"},
	"first attack": {"First attack", "最初の攻撃"},
}

func bilingual(en, ja string) template.HTML {
	if ja == "" {
		ja = en
	}
	if en == "" {
		en = ja
	}
	return template.HTML(`<span class="en">` + html.EscapeString(en) + `</span><span class="ja" lang="ja">` + html.EscapeString(ja) + `</span>`)
}

var funcs = template.FuncMap{
	"l": func(key string) template.HTML {
		l, ok := labels[key]
		if !ok {
			return template.HTML(html.EscapeString(key))
		}
		return bilingual(l[0], l[1])
	},
	"text":  func(t scenario.Text) template.HTML { return bilingual(t.En, t.Ja) },
	"clock": clock,
	"dur": func(ms *int64) string {
		if ms == nil {
			return "—"
		}
		return clock(*ms)
	},
	"signed": func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf("%+d", n)
	},
	"scoreChart": scoreChart,
	"tagChart":   tagChart,
	"color":      color,
	"inc":        func(i int) int { return i + 1 },
	"steady":     steadyText,
}

// steadyText is a steady value as "14.97 ± 0.64 m3/h": the noise to two
// significant digits, the mean to as many decimals.
func steadyText(c Chart) string {
	if c.Steady == nil {
		return ""
	}
	d := 0
	if n := c.Steady.Noise; n > 0 {
		d = max(0, 1-int(math.Floor(math.Log10(n))))
	}
	s := strconv.FormatFloat(c.Steady.Mean, 'f', d, 64)
	if c.Steady.Noise > 0 {
		s += " ± " + strconv.FormatFloat(c.Steady.Noise, 'f', d, 64)
	}
	return strings.TrimSpace(s + " " + c.Unit)
}

var tmpl = template.Must(template.New("report").Funcs(funcs).Parse(pageTemplate))

// WriteHTML writes the report as one self-contained HTML file: inline CSS
// and SVG, nothing fetched, both languages with a switch.
func (r *Report) WriteHTML(w io.Writer) error {
	return tmpl.Execute(w, r)
}

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"}

func color(i int) string { return palette[i%len(palette)] }
