package plantsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/icsrange/icsrange/plant-sim/internal/httpapi"
)

// lease is what a PLC in another process knows of the engine that drives
// it: when the engine last renewed its hold (every advance renews it; an
// engine that is not advancing, paused or waiting for the instructor,
// renews it on its own) and whether it let go. Whoever finds the PLC
// running can ask, so "is an engine still attached to these containers?"
// has an answer with the engine's data dir gone and from another machine
// than the engine's.
type lease struct {
	start time.Time // the ages below are on this monotonic clock

	mu       sync.Mutex
	renewed  time.Duration // since start; valid when held once
	once     bool
	released bool
}

func newLease() *lease { return &lease{start: time.Now()} }

func (l *lease) renew() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renewed, l.once, l.released = time.Since(l.start), true, false
}

func (l *lease) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = true
}

func (l *lease) status(p *PLC) LeaseStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LeaseStatus{AgoMS: -1, Released: l.released, ClockMS: p.Now().Milliseconds()}
	if l.once {
		s.AgoMS = (time.Since(l.start) - l.renewed).Milliseconds()
	}
	return s
}

// LeaseStatus is a PLC's GET /v1/lease: how long ago an engine last drove
// or renewed it, measured on the PLC's own clock, so the asker needs no
// clock in step with the Docker host.
type LeaseStatus struct {
	// AgoMS is the time since the last renewal or advance; -1 if none
	// ever came.
	AgoMS int64 `json:"ago_ms"`
	// Released: the engine let go (it closed its deployment) after its
	// last renewal.
	Released bool `json:"released"`
	// ClockMS is the exercise time the PLC has been advanced to.
	ClockMS int64 `json:"clock_ms"`
}

// HeldWithin says whether an engine holds the PLC: renewed within ttl and
// not released since.
func (s LeaseStatus) HeldWithin(ttl time.Duration) bool {
	return s.AgoMS >= 0 && !s.Released && time.Duration(s.AgoMS)*time.Millisecond < ttl
}

// Age is the time since the last renewal (negative: never).
func (s LeaseStatus) Age() time.Duration { return time.Duration(s.AgoMS) * time.Millisecond }

// ErrNoLease is what a PLC from before /v1/lease answers.
var ErrNoLease = errors.New("the PLC keeps no engine lease (an icsrange older than the lease)")

// RenewLease renews the engine's hold on the PLC.
func (c *MgmtClient) RenewLease(ctx context.Context) error {
	return c.leaseCall(ctx, http.MethodPost, nil)
}

// ReleaseLease tells the PLC its engine let go.
func (c *MgmtClient) ReleaseLease(ctx context.Context) error {
	return c.leaseCall(ctx, http.MethodDelete, nil)
}

// Lease says how long ago an engine last drove or renewed the PLC.
func (c *MgmtClient) Lease(ctx context.Context) (LeaseStatus, error) {
	var s LeaseStatus
	err := c.leaseCall(ctx, http.MethodGet, &s)
	return s, err
}

func (c *MgmtClient) leaseCall(ctx context.Context, method string, out *LeaseStatus) error {
	var o any
	if out != nil {
		o = out
	}
	err := c.do(ctx, method, "/v1/lease", "", nil, o)
	var se *statusError
	if errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusMethodNotAllowed) {
		return fmt.Errorf("%w: %v", ErrNoLease, err)
	}
	return err
}

// serve adds the lease's routes to a management API.
func (l *lease) serve(mux *http.ServeMux, p *PLC) {
	mux.HandleFunc("GET /v1/lease", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, l.status(p))
	})
	mux.HandleFunc("POST /v1/lease", func(w http.ResponseWriter, r *http.Request) {
		l.renew()
		httpapi.WriteJSON(w, http.StatusOK, l.status(p))
	})
	mux.HandleFunc("DELETE /v1/lease", func(w http.ResponseWriter, r *http.Request) {
		l.release()
		httpapi.WriteJSON(w, http.StatusOK, l.status(p))
	})
}
