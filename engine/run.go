package engine

import (
	"context"
	"time"
)

// Run drives the exercise from the wall clock until it ends or ctx is
// done: exercise time advances at speed × wall time while running, in
// whole ticks, and the plants are checkpointed every second of wall time.
func (x *Exercise) Run(ctx context.Context, speed float64) error {
	if speed <= 0 {
		speed = 1
	}
	x.mu.Lock()
	x.budget.setSpeed(speed)
	x.mu.Unlock()
	// Wake often enough that a tick is never late by more than a tick.
	interval := time.Duration(float64(Tick) / speed)
	interval = min(max(interval, 5*time.Millisecond), 50*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	lastCheckpoint := last
	virt, _ := x.Clock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			el := now.Sub(last)
			last = now
			clock, phase := x.Clock()
			switch phase {
			case PhaseEnded:
				return nil
			case PhaseRunning:
				virt = max(virt, clock) + time.Duration(float64(el)*speed)
				if err := x.Step(ctx, virt); err != nil {
					return err
				}
			default:
				virt = clock
			}
			if now.Sub(lastCheckpoint) >= time.Second && phase == PhaseRunning {
				lastCheckpoint = now
				if err := x.Checkpoint(ctx); err != nil {
					return err
				}
			}
		}
	}
}
