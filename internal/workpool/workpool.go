// Package workpool runs a number of independent jobs on a bounded set of
// goroutines: the one worker pool the backends share (advancing every PLC
// each tick, creating and removing containers), and the limit on calls in
// flight the Docker provisioning pipeline shares.
package workpool

import (
	"context"
	"errors"
	"sync"
)

// inline is the job count at or below which Each runs jobs in the caller's
// goroutine: for a few fast jobs goroutines cost more than they save.
const inline = 8

// Each runs fn for 0..n-1 on up to workers goroutines; it stops handing
// out work at the first error and returns it (or the context's error).
func Each(parent context.Context, n, workers int, fn func(int) error) error {
	if n <= inline || workers <= 1 {
		for i := range n {
			if err := parent.Err(); err != nil {
				return err
			}
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range min(n, workers) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
loop:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}

// All runs fn for every 0..n-1 on up to workers goroutines, whatever fails,
// and returns every error.
func All(ctx context.Context, n, workers int, fn func(int) error) error {
	var mu sync.Mutex
	var errs []error
	Each(ctx, n, workers, func(i int) error {
		if err := fn(i); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return nil
	})
	if len(errs) == 0 {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// Limit bounds how many calls run at once among any number of goroutines:
// for a pipeline whose goroutines spend most of their time waiting (a
// container's readiness) between calls that must be bounded (the Docker
// daemon's), where a pool of n workers would leave the waits holding the
// slots.
type Limit chan struct{}

// NewLimit returns a limit of n calls at once (at least 1).
func NewLimit(n int) Limit { return make(Limit, max(n, 1)) }

// Do runs fn once a slot is free, or returns the context's cause if it is
// done first.
func (l Limit) Do(ctx context.Context, fn func() error) error {
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-l }()
	return fn()
}
