// Package components holds small reusable pieces of the terminal UI.
package components

import (
	"math"
	"strings"
)

var blocks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width samples scaled between lo and hi (the
// tag's engineering range when the data stay inside it, so a flat line
// reads as steady, not as noise blown up).
func Sparkline(samples []float64, width int, lo, hi float64) string {
	if width <= 0 {
		return ""
	}
	if len(samples) > width {
		samples = samples[len(samples)-width:]
	}
	if len(samples) == 0 {
		return strings.Repeat(" ", width)
	}
	mn, mx := samples[0], samples[0]
	for _, v := range samples {
		mn, mx = math.Min(mn, v), math.Max(mx, v)
	}
	// Zoom to the data when it spans a small part of the range, with a
	// floor so sensor noise doesn't fill the chart.
	if span := hi - lo; span > 0 && mx-mn < span/4 {
		pad := math.Max((mx-mn)/2, span/40)
		lo, hi = math.Max(lo, mn-pad), math.Min(hi, mx+pad)
	}
	if hi <= lo {
		hi = lo + 1
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(samples)))
	for _, v := range samples {
		i := int(math.Round((v - lo) / (hi - lo) * float64(len(blocks)-1)))
		b.WriteRune(blocks[max(0, min(len(blocks)-1, i))])
	}
	return b.String()
}
