package report

import (
	"math"
	"slices"
)

// How the report tells a process value's movement from its sensor noise
// (docs/report.md, "Noise"). A centred moving average over smoothWindow
// samples (30 s at one sample every 2 s) is the value's movement; what is
// left, the sample minus the average, is noise, and its standard deviation
// σ measures it.
//
//   - Steady: over the whole exercise the average moved by less than 2% of
//     the tag's range, and by no more than steadyRatio·σ + 0.2% of the
//     range (the truth has no sensor noise: σ is 0 there), on the truth and
//     on what the HMI showed. Nothing happened to this value that the noise
//     does not explain; the report lists it with its mean and σ instead of
//     drawing 45 minutes of jitter. A chart where the HMI and the truth
//     disagreed, or one of whose setpoints or limits changed, is always
//     drawn.
//   - Smoothed: σ is more than smoothRatio of the average's movement, so the
//     raw line would be mostly jitter; the report draws the moving average,
//     with the raw samples faint behind it.
const (
	smoothWindow = 15
	steadyRatio  = 4.0
	smoothRatio  = 0.05
)

// noiseOf splits a series into its moving average and the standard
// deviation of what is left.
func noiseOf(v []float64) (avg []float64, sigma float64) {
	n := len(v)
	avg = make([]float64, n)
	half := smoothWindow / 2
	var sum float64
	lo, hi := 0, 0 // the window is v[lo:hi]
	for i := range n {
		for hi < n && hi <= i+half {
			sum += v[hi]
			hi++
		}
		for lo < i-half {
			sum -= v[lo]
			lo++
		}
		avg[i] = sum / float64(hi-lo)
	}
	// σ from the median absolute residual (×1.4826, σ for normal noise), so
	// the lag of the average at a step change does not count as noise.
	res := make([]float64, n)
	for i := range n {
		res[i] = math.Abs(v[i] - avg[i])
	}
	slices.Sort(res)
	if n > 0 {
		sigma = 1.4826 * res[n/2]
	}
	return avg, sigma
}

// movement is the range of a series.
func movement(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return hi - lo
}

// classify sets a chart's Steady and Smoothed from its samples.
func (c *Chart) classify() {
	if len(c.Samples) < 2*smoothWindow {
		return // too short to tell noise from movement: draw it as it is
	}
	col := func(k int) []float64 {
		v := make([]float64, len(c.Samples))
		for i, s := range c.Samples {
			v[i] = s[k]
		}
		return v
	}
	truth, hmi := col(1), col(2)
	tAvg, tSigma := noiseOf(truth)
	hAvg, hSigma := noiseOf(hmi)
	tMove, hMove := movement(tAvg), movement(hAvg)
	span := c.Max - c.Min
	steady := func(move, sigma float64) bool { return move < 0.02*span && move <= steadyRatio*sigma+0.002*span }
	changed := false
	for _, l := range c.Lines {
		changed = changed || len(l.Points) > 1
	}
	if !c.Diverged && !changed && steady(tMove, tSigma) && steady(hMove, hSigma) {
		var sum float64
		for _, x := range truth {
			sum += x
		}
		c.Steady = &Steady{Mean: round4(sum / float64(len(truth))), Noise: round4(math.Max(tSigma, hSigma))}
		return
	}
	c.Smoothed = tSigma > smoothRatio*tMove || hSigma > smoothRatio*hMove
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
