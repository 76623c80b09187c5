package plantsim

import (
	"context"
	"time"
)

// RunRealtime drives PLCs from the wall clock until ctx ends: every period
// each PLC advances to the time elapsed since the call. A standalone PLC
// runs this way; the engine instead drives PLCs from its exercise clock.
// One goroutine drives them all, so hundreds of PLCs cost one timer.
func RunRealtime(ctx context.Context, period time.Duration, plcs ...*PLC) {
	start := time.Now()
	base := make([]time.Duration, len(plcs))
	for i, p := range plcs {
		base[i] = p.Now()
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			el := now.Sub(start)
			for i, p := range plcs {
				p.Advance(base[i] + el)
			}
		}
	}
}
