package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Chart geometry in viewBox units. Charts span the page's column (the CSS
// scales them), so at the report's 1180 px column a unit is about a pixel.
const (
	chartW    = 1100.0
	plotH     = 220.0 // the plot area's height
	padL      = 72.0  // y tick labels and the axis title
	padR      = 118.0 // labels of setpoints and limits, right of the plot
	padB      = 46.0  // time ticks and the axis title
	padTop    = 8.0
	markerRow = 20.0 // one row of inject markers above the plot
	markerGap = 22.0 // markers closer than this go to the next row
	labelGap  = 14.0 // the least vertical gap between two line labels
)

// frame maps exercise time and values into a chart's plot area.
type frame struct {
	x0, x1, y0, y1 float64 // the plot area
	end            float64 // exercise ms at the right edge
	lo, hi         float64 // values at the bottom and top
}

func (f frame) x(ms float64) float64 { return f.x0 + ms/f.end*(f.x1-f.x0) }
func (f frame) y(v float64) float64  { return f.y0 + (f.hi-v)/(f.hi-f.lo)*(f.y1-f.y0) }

func newFrame(r *Report, top, lo, hi float64) frame {
	return frame{x0: padL, x1: chartW - padR, y0: top, y1: top + plotH,
		end: float64(max(r.Exercise.DurationMS, r.Exercise.ClockMS, 1)), lo: lo, hi: hi}
}

func (f frame) height() float64 { return f.y1 + padB }

// marker is an inject drawn on a team's charts: numbered in firing order
// (the injects table shows the same numbers), and put in the first row
// where it keeps markerGap from its neighbour, so no two ever overlap.
type marker struct {
	n   int
	x   float64
	row int
	in  FiredInject
}

func markers(injects []FiredInject, f frame) (ms []marker, rows int) {
	var last []float64 // the x of the last marker in each row
	for i, in := range injects {
		m := marker{n: i + 1, x: f.x(float64(in.ClockMS)), in: in}
		for m.row = 0; m.row < len(last) && m.x-last[m.row] < markerGap; m.row++ {
		}
		if m.row == len(last) {
			last = append(last, 0)
		}
		last[m.row] = m.x
		ms = append(ms, m)
	}
	return ms, len(last)
}

// scoreChart draws every team's score as a step line over exercise time.
func scoreChart(r *Report) template.HTML {
	lo, hi := 0.0, 1.0
	for _, s := range r.Scores {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, float64(p[1])), math.Max(hi, float64(p[1]))
		}
	}
	lo, hi, step := niceRange(lo, hi+(hi-lo)*0.05)
	f := newFrame(r, padTop, lo, hi)
	var b strings.Builder
	svgOpen(&b, f, "score over time")
	axes(&b, f, step, "points", "点")
	var labels []endLabel
	for i, s := range r.Scores {
		var d strings.Builder
		prev := 0.0
		for j, p := range s.Points {
			if j == 0 {
				fmt.Fprintf(&d, "M%.1f,%.1f", f.x(float64(p[0])), f.y(float64(p[1])))
			} else {
				fmt.Fprintf(&d, "H%.1fV%.1f", f.x(float64(p[0])), f.y(float64(p[1])))
			}
			prev = float64(p[1])
		}
		fmt.Fprintf(&d, "H%.1f", f.x(float64(r.Exercise.ClockMS)))
		fmt.Fprintf(&b, `<path class="score" stroke="%s" d="%s"><title>%s</title></path>`, color(i), d.String(), html.EscapeString(s.Team))
		labels = append(labels, endLabel{f.y(prev), color(i), fmt.Sprintf("%s %g", s.Team, prev)})
	}
	drawEndLabels(&b, f, labels)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// tagChart draws one process value: the truth (solid) and what the HMI
// showed (dashed), the spans where they disagreed shaded, its setpoints and
// alarm limits as step lines labelled at the right, and the team's injects
// as numbered markers above the plot.
func tagChart(c Chart, injects []FiredInject, r *Report) template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for _, s := range c.Samples {
		see(s[1])
		see(s[2])
	}
	for _, l := range c.Lines {
		for _, p := range l.Points {
			see(p[1])
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = c.Min, c.Max
	}
	// A margin, and never finer than a tenth of the tag's range, so a
	// controller's jitter does not look like an event.
	span := math.Max(hi-lo, (c.Max-c.Min)*0.1)
	mid := (hi + lo) / 2
	lo, hi = math.Max(c.Min, mid-span*0.56), math.Min(c.Max, mid+span*0.56)
	if hi <= lo {
		hi = lo + math.Max(span, 1)
	}
	lo, hi, step := niceRange(lo, hi)
	probe := newFrame(r, 0, lo, hi)
	ms, rows := markers(injects, probe)
	f := newFrame(r, padTop+float64(rows)*markerRow, lo, hi)

	var b strings.Builder
	svgOpen(&b, f, c.PLC+"."+c.Tag)
	axes(&b, f, step, axisTitle(c.Tag, c.Unit), "")
	// Where the HMI and the truth disagreed: behind everything else.
	tol := (c.Max - c.Min) * 0.01
	for i := 0; i < len(c.Samples); i++ {
		if math.Abs(c.Samples[i][1]-c.Samples[i][2]) <= tol {
			continue
		}
		j := i
		for j+1 < len(c.Samples) && math.Abs(c.Samples[j+1][1]-c.Samples[j+1][2]) > tol {
			j++
		}
		x0, x1 := f.x(c.Samples[i][0]), f.x(c.Samples[j][0])
		fmt.Fprintf(&b, `<rect class="gap" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x0, f.y0, math.Max(x1-x0, 1), f.y1-f.y0)
		i = j
	}
	for _, m := range ms {
		cy := padTop + float64(m.row)*markerRow + markerRow/2
		fmt.Fprintf(&b, `<g class="marker"><title>%d · %s %s</title><line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><circle cx="%.1f" cy="%.1f" r="8.5"/><text x="%.1f" y="%.1f">%d</text></g>`,
			m.n, clock(m.in.ClockMS), html.EscapeString(m.in.Name.En), m.x, m.x, cy+8.5, f.y1, m.x, cy, m.x, cy+3.5, m.n)
	}
	lineLabels(&b, c.Lines, f, step)
	truth, hmi := series(c.Samples, 1), series(c.Samples, 2)
	if c.Smoothed {
		polyline(&b, f, c.Samples, truth, "truth raw")
		polyline(&b, f, c.Samples, hmi, "reported raw")
		truth, _ = noiseOf(truth)
		hmi, _ = noiseOf(hmi)
	}
	// In this order, so the dashed HMI line is drawn over the truth.
	polyline(&b, f, c.Samples, truth, "truth")
	polyline(&b, f, c.Samples, hmi, "reported")
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func series(samples [][3]float64, k int) []float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = s[k]
	}
	return v
}

func polyline(b *strings.Builder, f frame, samples [][3]float64, v []float64, class string) {
	if len(v) == 0 {
		return
	}
	fmt.Fprintf(b, `<polyline class="%s" points="`, class)
	for i, s := range samples {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "%.1f,%.1f", f.x(s[0]), f.y(v[i]))
	}
	b.WriteString(`"/>`)
}

// lineLabels draws the setpoints and limits as step lines, each labelled
// at the right with its name and last value; labels that would touch are
// pushed apart.
func lineLabels(b *strings.Builder, lines []Line, f frame, step float64) {
	var labels []endLabel
	for _, l := range lines {
		if len(l.Points) == 0 {
			continue
		}
		var d strings.Builder
		for i, p := range l.Points {
			if i == 0 {
				fmt.Fprintf(&d, "M%.1f,%.1f", f.x(p[0]), f.y(p[1]))
			} else {
				fmt.Fprintf(&d, "H%.1fV%.1f", f.x(p[0]), f.y(p[1]))
			}
		}
		fmt.Fprintf(&d, "H%.1f", f.x1)
		last := l.Points[len(l.Points)-1][1]
		fmt.Fprintf(b, `<path class="%s" d="%s"><title>%s</title></path>`, l.Class, d.String(), html.EscapeString(l.Tag+": "+l.Desc))
		labels = append(labels, endLabel{f.y(last), l.Class, l.Tag + " " + strconv.FormatFloat(last, 'f', decimals(step/10), 64)})
	}
	drawEndLabels(b, f, labels)
}

// endLabel names a line at the right of the plot; style is a class, or a
// colour for a team's score.
type endLabel struct {
	y     float64
	style string
	text  string
}

// drawEndLabels writes the labels at the right of the plot, each at its
// line's height, pushed apart where they would touch.
func drawEndLabels(b *strings.Builder, f frame, labels []endLabel) {
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].y < labels[j].y })
	for i := range labels {
		if i > 0 && labels[i].y-labels[i-1].y < labelGap {
			labels[i].y = labels[i-1].y + labelGap
		}
	}
	// Pushed below the plot: move the lot up.
	if n := len(labels); n > 0 && labels[n-1].y > f.y1 {
		shift := labels[n-1].y - f.y1
		for i := range labels {
			labels[i].y -= shift
		}
	}
	for _, l := range labels {
		if strings.HasPrefix(l.style, "#") {
			fmt.Fprintf(b, `<text class="line-label" fill="%s" x="%.1f" y="%.1f">%s</text>`, l.style, f.x1+6, l.y+4, html.EscapeString(l.text))
		} else {
			fmt.Fprintf(b, `<text class="line-label %s" x="%.1f" y="%.1f">%s</text>`, l.style, f.x1+6, l.y+4, html.EscapeString(l.text))
		}
	}
}

func svgOpen(b *strings.Builder, f frame, label string) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %g %.0f" class="chart" role="img" aria-label="%s">`, chartW, f.height(), html.EscapeString(label))
}

// axes draws the plot area, value gridlines with their labels, time ticks,
// and both axis titles.
func axes(b *strings.Builder, f frame, step float64, title, titleJa string) {
	fmt.Fprintf(b, `<rect class="plot" x="%g" y="%.1f" width="%g" height="%.1f"/>`, f.x0, f.y0, f.x1-f.x0, f.y1-f.y0)
	for v := f.lo; v <= f.hi+step/1e6; v += step {
		y := f.y(v)
		fmt.Fprintf(b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			f.x0, f.x1, y, y, f.x0-6, y+4, strconv.FormatFloat(v, 'f', decimals(step), 64))
	}
	tstep := niceStep(f.end / 8)
	for t := 0.0; t <= f.end+1; t += tstep {
		x := f.x(t)
		fmt.Fprintf(b, `<line class="tick" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
			x, x, f.y1, f.y1+5, x, f.y1+18, clock(int64(t)))
	}
	mid := (f.y0 + f.y1) / 2
	fmt.Fprintf(b, `<text class="axis-title" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, mid, axisText(title, titleJa))
	fmt.Fprintf(b, `<text class="axis-title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, (f.x0+f.x1)/2, f.y1+38, axisText("exercise time (m:ss)", "演習時間（分:秒）"))
}

// axisText is an axis title in both languages, as SVG text spans the
// page's language switch shows one of.
func axisText(en, ja string) string {
	if ja == "" || ja == en {
		return html.EscapeString(en)
	}
	return `<tspan class="en">` + html.EscapeString(en) + `</tspan><tspan class="ja">` + html.EscapeString(ja) + `</tspan>`
}

func axisTitle(tag, unit string) string {
	if unit == "" {
		return tag
	}
	return tag + " (" + unit + ")"
}

// niceRange widens [lo, hi] to multiples of a 1-2-5 step giving about five
// gridlines.
func niceRange(lo, hi float64) (float64, float64, float64) {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step, step
}

// decimals is how many decimals show a multiple of step exactly.
func decimals(step float64) int {
	d := 0
	for p := step; d < 6 && math.Abs(p-math.Round(p)) > 1e-6*math.Max(1, math.Abs(p)); p *= 10 {
		d++
	}
	return d
}

// niceStep rounds a time step (ms) up to 1, 5, 10 or 30 seconds, or 1, 2,
// 5, 10, 15, 30 or 60 minutes.
func niceStep(ms float64) float64 {
	for _, s := range []float64{1e3, 5e3, 10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3} {
		if ms <= s {
			return s
		}
	}
	return 7200e3
}
