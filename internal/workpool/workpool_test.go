package workpool

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

// Each runs every job once, stops handing out work after the first error
// and returns it; All runs every job whatever fails and returns every
// error; both honour a cancelled context.
func TestEachAndAll(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{3, 100} { // inline and pooled
		var ran atomic.Int64
		seen := make([]atomic.Bool, n)
		if err := Each(ctx, n, 4, func(i int) error {
			ran.Add(1)
			if seen[i].Swap(true) {
				t.Errorf("job %d ran twice", i)
			}
			return nil
		}); err != nil || ran.Load() != int64(n) {
			t.Fatalf("n=%d: ran %d, err %v", n, ran.Load(), err)
		}

		boom := errors.New("boom")
		ran.Store(0)
		err := Each(ctx, n, 4, func(i int) error {
			ran.Add(1)
			if i == 1 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("n=%d: Each returned %v, want boom", n, err)
		}
		if n == 100 && ran.Load() == int64(n) {
			t.Errorf("Each handed out all %d jobs after the first failed", n)
		}

		ran.Store(0)
		err = All(ctx, n, 4, func(i int) error {
			ran.Add(1)
			if i%2 == 0 {
				return boom
			}
			return nil
		})
		if ran.Load() != int64(n) || !errors.Is(err, boom) {
			t.Fatalf("n=%d: All ran %d jobs, err %v", n, ran.Load(), err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Each(cctx, 100, 4, func(int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Each: %v", err)
	}
}

// A Limit runs at most its n calls at once: with both slots taken, a
// call whose context ends waits for none and returns the context's cause
// without running; once a slot frees, calls run again.
func TestLimit(t *testing.T) {
	l := NewLimit(2)
	release := make(chan struct{})
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- l.Do(context.Background(), func() error { <-release; return nil }) }()
	}
	for len(l) < 2 { // both calls hold their slot
		runtime.Gosched()
	}
	boom := errors.New("gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(boom)
	ran := false
	if err := l.Do(ctx, func() error { ran = true; return nil }); !errors.Is(err, boom) || ran {
		t.Fatalf("a third call with both slots taken: ran %v, err %v; want the context's cause, not run", ran, err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	want := errors.New("its own error")
	if err := l.Do(context.Background(), func() error { return want }); err != want {
		t.Fatalf("a call with a free slot returned %v, want its own error", err)
	}
}
