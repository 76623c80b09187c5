package workpool

import (
	"context"
	"errors"
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
