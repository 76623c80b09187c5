package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Injects close together go to separate rows, so no two markers ever
// overlap, and far apart ones share the first row.
func TestMarkersNeverOverlap(t *testing.T) {
	r := &Report{Exercise: Exercise{DurationMS: 45 * 60_000}}
	f := newFrame(r, 0, 0, 1)
	var injects []FiredInject
	// A burst of five injects within 4 s, then two far apart.
	for _, ms := range []int64{600_000, 601_000, 602_000, 603_000, 604_000, 1_200_000, 2_400_000} {
		injects = append(injects, FiredInject{ClockMS: ms})
	}
	ms, rows := markers(injects, f)
	if rows != 5 {
		t.Errorf("%d rows for a burst of five, want 5", rows)
	}
	for i, a := range ms {
		if a.n != i+1 {
			t.Errorf("marker %d numbered %d", i, a.n)
		}
		for _, b := range ms[i+1:] {
			if a.row == b.row && math.Abs(a.x-b.x) < markerGap {
				t.Errorf("markers %d and %d overlap in row %d (%.1f and %.1f)", a.n, b.n, a.row, a.x, b.x)
			}
		}
	}
	if ms[5].row != 0 || ms[6].row != 0 {
		t.Errorf("injects far from the burst should use the first row: rows %d and %d", ms[5].row, ms[6].row)
	}
	// The chart makes room for every row above the plot.
	c := Chart{PLC: "tank", Tag: "level", Unit: "m", Min: 0, Max: 10, Samples: [][3]float64{{0, 2, 2}, {2_700_000, 3, 3}}}
	svg := string(tagChart(c, injects, r))
	if n := strings.Count(svg, `class="marker"`); n != len(injects) {
		t.Errorf("%d markers drawn, want %d", n, len(injects))
	}
	if want := fmt.Sprintf(`<rect class="plot" x="72" y="%.1f"`, padTop+5*markerRow); !strings.Contains(svg, want) {
		t.Errorf("the plot does not start below five rows of markers (%s):\n%.400s", want, svg)
	}
}

// Labels of setpoints and limits at nearly the same value are pushed
// apart, and stay beside the plot.
func TestLineLabelsApart(t *testing.T) {
	f := frame{x0: padL, x1: chartW - padR, y0: 0, y1: plotH, end: 1000, lo: 0, hi: 10}
	var lines []Line
	for i, v := range []float64{9.9, 9.95, 10, 0.1, 0} {
		lines = append(lines, Line{Tag: fmt.Sprint("l", i), Class: "limit", Points: [][2]float64{{0, v}}})
	}
	var b strings.Builder
	lineLabels(&b, lines, f, 1)
	var ys []float64
	for _, part := range strings.Split(b.String(), `<text class="line-label limit"`)[1:] {
		var x, y float64
		if _, err := fmt.Sscanf(part, ` x="%g" y="%g"`, &x, &y); err != nil {
			t.Fatalf("%v in %q", err, part)
		}
		ys = append(ys, y)
	}
	if len(ys) != len(lines) {
		t.Fatalf("%d labels, want %d", len(ys), len(lines))
	}
	for i := 1; i < len(ys); i++ {
		if ys[i]-ys[i-1] < labelGap {
			t.Errorf("labels %d and %d are %.1f apart, want at least %g", i-1, i, ys[i]-ys[i-1], labelGap)
		}
	}
	if ys[len(ys)-1] > f.y1+4 {
		t.Errorf("the last label at %.1f is below the plot (%g)", ys[len(ys)-1], f.y1)
	}
}

// A flat value with sensor noise is steady; a step is drawn as it is; a
// small slow swing under heavy noise is smoothed; a frozen HMI is always
// drawn.
func TestNoiseClassification(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chart := func(truth func(i int) float64, noise float64) Chart {
		c := Chart{Min: 0, Max: 200}
		for i := range 240 {
			v := truth(i)
			c.Samples = append(c.Samples, [3]float64{float64(i * 2000), v, v + rng.NormFloat64()*noise})
		}
		return c
	}
	flat := chart(func(int) float64 { return 15 }, 0.4)
	flat.classify()
	if flat.Steady == nil || math.Abs(flat.Steady.Mean-15) > 0.01 || flat.Steady.Noise < 0.3 || flat.Steady.Noise > 0.5 {
		t.Errorf("flat flow with noise σ 0.4: steady %+v", flat.Steady)
	}
	step := chart(func(i int) float64 { return 15 + 45*float64(min(1, i/90)) }, 0.4)
	step.classify()
	if step.Steady != nil || step.Smoothed {
		t.Errorf("a step from 15 to 60: steady %+v, smoothed %v; want it drawn as it is", step.Steady, step.Smoothed)
	}
	swing := chart(func(i int) float64 { return 100 + 6*math.Sin(float64(i)/40) }, 2)
	swing.classify()
	if swing.Steady != nil || !swing.Smoothed {
		t.Errorf("a ±6 swing under noise σ 2: steady %+v, smoothed %v; want it smoothed", swing.Steady, swing.Smoothed)
	}
	frozen := chart(func(int) float64 { return 15 }, 0.4)
	frozen.Diverged = true
	frozen.classify()
	if frozen.Steady != nil {
		t.Error("a chart where the HMI disagreed with the truth was left out")
	}
	written := chart(func(int) float64 { return 15 }, 0.4)
	written.Lines = []Line{{Tag: "sp", Class: "setpoint", Points: [][2]float64{{0, 15}, {100_000, 30}}}}
	written.classify()
	if written.Steady != nil {
		t.Error("a chart whose setpoint was written was left out")
	}
	if got := steadyText(flat); !strings.HasPrefix(got, "15.00 ± 0.") || len(got) != len("15.00 ± 0.34") {
		t.Errorf("steady text %q, want the mean to the noise's two digits", got)
	}
}
