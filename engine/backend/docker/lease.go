package docker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icsrange/icsrange/internal/workpool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// The engine's lease on its PLCs (plant-sim's /v1/lease): every advance
// renews it; a deployment the engine holds but does not advance (paused,
// waiting for the instructor, still provisioning) renews it every
// leaseEvery; closing the deployment releases it. A lease older than
// LeaseTTL belongs to an engine that is gone without letting go (kill -9,
// a crashed machine).
const (
	leaseEvery = time.Second
	LeaseTTL   = 10 * time.Second
	// leaseCall bounds one renewal, release or query.
	leaseCall = 3 * time.Second
)

// leaser keeps the lease on a deployment's PLCs while the engine holds it.
type leaser struct {
	t0       time.Time
	advanced atomic.Int64 // since t0, of the engine's last advance of every PLC; 0 never
	workers  int

	mu   sync.Mutex
	plcs []*plantsim.MgmtClient

	stop   context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

// newLeaser starts renewing the lease of every PLC added to it.
func newLeaser(workers int) *leaser {
	ctx, cancel := context.WithCancel(context.Background())
	l := &leaser{t0: time.Now(), workers: workers, stop: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// add takes a PLC that answers into the lease.
func (l *leaser) add(mc *plantsim.MgmtClient) {
	if mc == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.plcs = append(l.plcs, mc)
}

// advancedAll notes that the engine advanced every PLC: that renewed them.
func (l *leaser) advancedAll() { l.advanced.Store(int64(time.Since(l.t0))) }

func (l *leaser) all() []*plantsim.MgmtClient {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*plantsim.MgmtClient(nil), l.plcs...)
}

func (l *leaser) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(leaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a := l.advanced.Load(); a != 0 && time.Since(l.t0)-time.Duration(a) < leaseEvery {
			continue // the engine's advances renew it
		}
		l.each(ctx, (*plantsim.MgmtClient).RenewLease)
	}
}

// each calls fn on every PLC, a few at a time. Errors are dropped: a PLC
// that does not answer is the engine's to report at its next tick, and
// the lease only says whether the engine lives.
func (l *leaser) each(ctx context.Context, fn func(*plantsim.MgmtClient, context.Context) error) {
	plcs := l.all()
	workpool.All(ctx, len(plcs), l.workers, func(i int) error {
		cctx, cancel := context.WithTimeout(ctx, leaseCall)
		defer cancel()
		fn(plcs[i], cctx)
		return nil
	})
}

// close stops renewing and, with release, tells every PLC the engine let
// go, so icsrange ps shows it detached at once rather than after LeaseTTL.
// Only the first close counts (an engine may close its deployment twice).
func (l *leaser) close(release bool) {
	l.closed.Do(func() {
		l.stop()
		<-l.done
		if release {
			l.each(context.Background(), (*plantsim.MgmtClient).ReleaseLease)
		}
	})
}
