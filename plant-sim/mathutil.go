package plantsim

import "math"

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func f2b(f float64) bool { return f >= 0.5 }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// approach moves x toward target by at most step.
func approach(x, target, step float64) float64 {
	if d := target - x; math.Abs(d) <= step {
		return target
	} else if d > 0 {
		return x + step
	}
	return x - step
}

// alarmHigh is a high alarm with hysteresis: it sets at the limit and clears
// only below limit-hys.
func alarmHigh(active bool, v, limit, hys float64) bool {
	if active {
		return v > limit-hys
	}
	return v >= limit
}

// alarmLow is the low-side counterpart of alarmHigh.
func alarmLow(active bool, v, limit, hys float64) bool {
	if active {
		return v < limit+hys
	}
	return v <= limit
}

// clearPulse implements a command coil that the safety layer reads between
// scans: the scan that first sees it set leaves it for the physics steps that
// follow, the next scan clears it. It returns the new "seen" state.
func clearPulse(v []float64, tag int, seen bool) bool {
	if seen {
		v[tag] = 0
		return false
	}
	return f2b(v[tag])
}
