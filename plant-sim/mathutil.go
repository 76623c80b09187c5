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

// piStep advances a PI controller by dt seconds and returns its output
// kp·e + I. The integral (kp·e/ti integrated, ti at least 1 s) and the output
// are both limited to [lo, hi], which keeps the integral from winding up.
func piStep(integral *float64, e, kp, ti, dt, lo, hi float64) float64 {
	ti = math.Max(1, ti)
	*integral = clamp(*integral+kp*e*dt/ti, lo, hi)
	return clamp(kp*e+*integral, lo, hi)
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

// latchTrip is a safety layer's latched trip: tag sets when at holds and the
// layer is not bypassed, and clears only when resettable (the reset coil is
// set and the process is back inside its reset band).
func latchTrip(v []float64, tag int, bypassed, at, resettable bool) {
	if f2b(v[tag]) {
		if resettable {
			v[tag] = 0
		}
	} else if !bypassed && at {
		v[tag] = 1
	}
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
