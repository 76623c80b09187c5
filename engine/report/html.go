package report

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
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
	"charts":       {"Process charts: truth (solid) and what the HMI showed (dashed)", "プロセスチャート：実値（実線）とHMI表示（破線）"},
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
}

var tmpl = template.Must(template.New("report").Funcs(funcs).Parse(pageTemplate))

// WriteHTML writes the report as one self-contained HTML file: inline CSS
// and SVG, nothing fetched, both languages with a switch.
func (r *Report) WriteHTML(w io.Writer) error {
	return tmpl.Execute(w, r)
}

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"}

func color(i int) string { return palette[i%len(palette)] }

const (
	chartW = 720.0
	chartH = 220.0
	padL   = 48.0
	padR   = 12.0
	padT   = 12.0
	padB   = 28.0
)

// scoreChart draws every team's score as a step line over exercise time.
func scoreChart(r *Report) template.HTML {
	end := float64(max(r.Exercise.DurationMS, r.Exercise.ClockMS, 1))
	lo, hi := 0.0, 1.0
	for _, s := range r.Scores {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, float64(p[1])), math.Max(hi, float64(p[1]))
		}
	}
	hi += (hi - lo) * 0.05
	x := func(ms float64) float64 { return padL + ms/end*(chartW-padL-padR) }
	y := func(v float64) float64 { return padT + (hi-v)/(hi-lo)*(chartH-padT-padB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" class="chart" role="img" aria-label="score over time">`, chartW, chartH)
	axes(&b, lo, hi, end, x, y)
	for i, s := range r.Scores {
		var pts []string
		prev := 0.0
		for j, p := range s.Points {
			if j > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(p[0])), y(prev)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(p[0])), y(float64(p[1]))))
			prev = float64(p[1])
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(r.Exercise.ClockMS)), y(prev)))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`,
			color(i), strings.Join(pts, " "), html.EscapeString(s.Team))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// tagChart draws one tag, truth against reported, with the team's injects
// as markers.
func tagChart(c Chart, injects []FiredInject, r *Report) template.HTML {
	end := float64(max(r.Exercise.DurationMS, r.Exercise.ClockMS, 1))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Samples {
		lo, hi = math.Min(lo, math.Min(s[1], s[2])), math.Max(hi, math.Max(s[1], s[2]))
	}
	if math.IsInf(lo, 0) {
		lo, hi = c.Min, c.Max
	}
	// Zoom to the data with a margin, never finer than 2% of the range, so
	// sensor noise reads as noise.
	span := math.Max(hi-lo, (c.Max-c.Min)*0.02)
	mid := (hi + lo) / 2
	lo, hi = math.Max(c.Min, mid-span*0.6), math.Min(c.Max, mid+span*0.6)
	if hi <= lo {
		hi = lo + span
	}
	x := func(ms float64) float64 { return padL + ms/end*(chartW-padL-padR) }
	y := func(v float64) float64 { return padT + (hi-v)/(hi-lo)*(chartH-padT-padB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" class="chart" role="img" aria-label="%s.%s">`, chartW, chartH,
		html.EscapeString(c.PLC), html.EscapeString(c.Tag))
	axes(&b, lo, hi, end, x, y)
	for _, in := range injects {
		px := x(float64(in.ClockMS))
		fmt.Fprintf(&b, `<line class="inject" x1="%.1f" x2="%.1f" y1="%g" y2="%g"/><text class="inject-label" x="%.1f" y="%g">%s</text>`,
			px, px, padT, chartH-padB, px+2, padT+9, html.EscapeString(in.ID))
	}
	// In this order, so the output is deterministic and the dashed HMI line
	// is drawn over the truth.
	for k, class := range [...]string{1: "truth", 2: "reported"} {
		if class == "" {
			continue
		}
		var pts []string
		for _, s := range c.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s[0]), y(s[k])))
		}
		fmt.Fprintf(&b, `<polyline class="%s" fill="none" points="%s"/>`, class, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axes(b *strings.Builder, lo, hi, end float64, x, y func(float64) float64) {
	fmt.Fprintf(b, `<rect class="plot" x="%g" y="%g" width="%g" height="%g"/>`, padL, padT, chartW-padL-padR, chartH-padT-padB)
	for i := range 5 {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			padL, chartW-padR, y(v), y(v), padL-4, y(v)+4, html.EscapeString(fmtAxis(v, hi-lo)))
	}
	step := niceStep(end / 6)
	for t := 0.0; t <= end+1; t += step {
		fmt.Fprintf(b, `<text class="axis" x="%.1f" y="%g" text-anchor="middle">%s</text>`, x(t), chartH-8, clock(int64(t)))
	}
}

func fmtAxis(v, span float64) string {
	switch {
	case span >= 100:
		return fmt.Sprintf("%.0f", v)
	case span >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// niceStep rounds a time step (ms) to 1, 2, 5, 10, 15 or 30 minutes or
// seconds.
func niceStep(ms float64) float64 {
	for _, s := range []float64{1e3, 5e3, 10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3} {
		if ms <= s {
			return s
		}
	}
	return 7200e3
}
