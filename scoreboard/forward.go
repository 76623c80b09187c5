package scoreboard

// PLC forwarding: GET /forward?plc=ID upgrades to a WebSocket that carries
// Modbus/TCP to one of the caller's own team's PLCs, so a remote trainee's
// tools (mbpoll, scripts, an HMI) work through `icsrange forward`. The team
// comes from the token, never from the request; each team has a bound on
// open tunnels and a shared byte rate each way; the instructor can switch
// forwarding off, which closes every open tunnel; and the PLC is told who
// the session is for before its first byte, so its traffic log shows the
// trainee's address and "forwarded for TEAM".

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icsrange/icsrange/engine/backend"
)

// Forwarding defaults.
const (
	// MaxForwardMessage bounds one WebSocket message of a tunnel, either way.
	MaxForwardMessage = 8 << 10
	// DefaultForwardConns is how many tunnels a team may have open at once.
	DefaultForwardConns = 8
	// DefaultForwardRate is a team's byte rate each way, shared by its tunnels.
	DefaultForwardRate = 64 << 10
	// DefaultForwardIdle closes a tunnel that carried nothing either way.
	DefaultForwardIdle = 5 * time.Minute

	forwardDialTimeout = 5 * time.Second
	// forwardCloseGrace is how long a closing tunnel waits for the client's
	// close frame before dropping the connection.
	forwardCloseGrace = 2 * time.Second
)

// ForwardOptions bound PLC forwarding. Zero values take the defaults.
type ForwardOptions struct {
	// Off starts with forwarding switched off (the instructor switches it
	// on with POST /api/control/forwarding-on).
	Off bool
	// MaxConns is the open tunnels a team may have (default 8).
	MaxConns int
	// Rate is a team's bytes a second in each direction, shared by all its
	// tunnels (default 64 KiB); negative means unlimited.
	Rate int
	// Burst is what the rate's bucket holds (default Rate/4, at least
	// MaxForwardMessage).
	Burst int
	// Idle closes a tunnel that carried no data either way this long
	// (default 5 minutes).
	Idle time.Duration
}

func (o ForwardOptions) withDefaults() ForwardOptions {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultForwardConns
	}
	if o.Rate == 0 {
		o.Rate = DefaultForwardRate
	}
	if o.Burst <= 0 {
		o.Burst = max(o.Rate/4, MaxForwardMessage)
	}
	if o.Idle <= 0 {
		o.Idle = DefaultForwardIdle
	}
	return o
}

// ForwardTeamStats is one team's forwarding in numbers.
type ForwardTeamStats struct {
	Open      int   `json:"open"`     // tunnels open now
	Sessions  int64 `json:"sessions"` // tunnels opened so far
	BytesUp   int64 `json:"bytes_up"` // trainee → PLC
	BytesDown int64 `json:"bytes_down"`
}

// ForwardStatus is whether forwarding is on and what each team used.
type ForwardStatus struct {
	Enabled bool                        `json:"forwarding"`
	Teams   map[string]ForwardTeamStats `json:"tunnels"`
}

// forwarder holds forwarding state: the switch and per-team slots, rate
// limiters and open tunnels.
type forwarder struct {
	opts ForwardOptions

	mu    sync.Mutex
	off   bool
	teams map[string]*fwdTeam
}

type fwdTeam struct {
	reserved int // slots taken, including tunnels still being set up
	tunnels  map[*tunnel]struct{}
	sessions int64
	up, down *rate.Limiter // trainee → PLC, PLC → trainee
	bytesUp  atomic.Int64
	bytesDn  atomic.Int64
}

func newForwarder(opts ForwardOptions) *forwarder {
	opts = opts.withDefaults()
	return &forwarder{opts: opts, off: opts.Off, teams: map[string]*fwdTeam{}}
}

func (f *forwarder) newLimiter() *rate.Limiter {
	if f.opts.Rate < 0 {
		return rate.NewLimiter(rate.Inf, f.opts.Burst)
	}
	return rate.NewLimiter(rate.Limit(f.opts.Rate), f.opts.Burst)
}

// fwdRefusal is why a tunnel was refused before the upgrade.
type fwdRefusal struct {
	status    int
	code, msg string
}

// reserve takes one of the team's slots.
func (f *forwarder) reserve(team string) (*fwdTeam, *fwdRefusal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return nil, &fwdRefusal{http.StatusForbidden, "forwarding_off", "forwarding is off; the instructor has switched PLC forwarding off"}
	}
	ft := f.teams[team]
	if ft == nil {
		ft = &fwdTeam{tunnels: map[*tunnel]struct{}{}, up: f.newLimiter(), down: f.newLimiter()}
		f.teams[team] = ft
	}
	if ft.reserved >= f.opts.MaxConns {
		return nil, &fwdRefusal{http.StatusTooManyRequests, "too_many_tunnels",
			fmt.Sprintf("team %s already has %d forwarded connections open; close one first", team, f.opts.MaxConns)}
	}
	ft.reserved++
	return ft, nil
}

func (f *forwarder) release(ft *fwdTeam) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft.reserved--
}

// register adds an open tunnel; false if forwarding went off meanwhile.
func (f *forwarder) register(ft *fwdTeam, t *tunnel) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return false
	}
	ft.tunnels[t] = struct{}{}
	ft.sessions++
	return true
}

func (f *forwarder) unregister(ft *fwdTeam, t *tunnel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(ft.tunnels, t)
}

// set switches forwarding on or off and returns the tunnels to close.
func (f *forwarder) set(on bool) []*tunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.off = !on
	if on {
		return nil
	}
	var out []*tunnel
	for _, ft := range f.teams {
		for t := range ft.tunnels {
			out = append(out, t)
		}
	}
	return out
}

func (f *forwarder) enabled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.off
}

func (f *forwarder) status() ForwardStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := ForwardStatus{Enabled: !f.off, Teams: map[string]ForwardTeamStats{}}
	for name, ft := range f.teams {
		st.Teams[name] = ForwardTeamStats{Open: len(ft.tunnels), Sessions: ft.sessions,
			BytesUp: ft.bytesUp.Load(), BytesDown: ft.bytesDn.Load()}
	}
	return st
}

// ForwardStatus reports whether forwarding is on and each team's tunnels.
func (s *Server) ForwardStatus() ForwardStatus { return s.fwd.status() }

// setForwarding is the instructor's switch; switching off closes every
// open tunnel.
func (s *Server) setForwarding(on bool) map[string]any {
	closing := s.fwd.set(on)
	for _, t := range closing {
		go t.shut(websocket.ClosePolicyViolation, "forwarding is off")
	}
	s.log.Info("forwarding switched", "on", on, "closed", len(closing))
	st := s.fwd.status()
	return map[string]any{"ok": true, "forwarding": st.Enabled, "closed": len(closing), "tunnels": st.Teams}
}

// teamEndpoint finds a PLC of team: only that team's, whatever the id.
func (s *Server) teamEndpoint(team, plc string) (backend.Endpoint, bool) {
	for _, e := range s.x.Endpoints() {
		if e.Team == team && e.PLC == plc && e.Modbus != "" {
			return e, true
		}
	}
	return backend.Endpoint{}, false
}

// serveForward is GET /forward?plc=ID for a team token.
func (s *Server) serveForward(w http.ResponseWriter, r *http.Request, c who) {
	plc := r.URL.Query().Get("plc")
	if plc == "" {
		writeError(w, http.StatusBadRequest, "invalid", "say which PLC: /forward?plc=ID")
		return
	}
	if !s.fwd.enabled() {
		writeError(w, http.StatusForbidden, "forwarding_off", "forwarding is off; the instructor has switched PLC forwarding off")
		return
	}
	ep, ok := s.teamEndpoint(c.team, plc)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no PLC "+strconv.Quote(plc)+" in your team's plant")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, "invalid", "GET /forward is a WebSocket (use icsrange forward)")
		return
	}
	if !s.checkOrigin(r) {
		writeError(w, http.StatusForbidden, "forbidden", "origin not allowed")
		return
	}
	ft, refused := s.fwd.reserve(c.team)
	if refused != nil {
		writeError(w, refused.status, refused.code, refused.msg)
		return
	}
	defer s.fwd.release(ft)

	d := net.Dialer{Timeout: forwardDialTimeout}
	addr := ep.Modbus
	if ep.Engine != "" {
		addr = ep.Engine
	}
	tcp, err := d.DialContext(r.Context(), "tcp", addr)
	if err != nil {
		s.log.Warn("forward: dial plc", "team", c.team, "plc", plc, "err", err)
		writeError(w, http.StatusBadGateway, "plc_unreachable", "PLC "+plc+" does not answer")
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: MaxForwardMessage + 64, CheckOrigin: s.checkOrigin}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		tcp.Close()
		return // the upgrader has answered
	}
	ws.SetReadLimit(MaxForwardMessage)

	// The PLC learns who this is before the first byte: the trainee's
	// address (the connection's own, not a header anyone could set) with
	// the engine-side port, so streams stay apart in its traffic log.
	ip := r.RemoteAddr
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = h
	}
	_, port, _ := net.SplitHostPort(tcp.LocalAddr().String())
	source := net.JoinHostPort(ip, port)
	ctx, cancel := context.WithCancel(r.Context())
	t := &tunnel{s: s, team: c.team, plc: plc, source: source, ws: ws, tcp: tcp, ft: ft, ctx: ctx, cancel: cancel,
		idle: s.fwd.opts.Idle, opened: time.Now()}
	t.touch()
	if err := s.x.Deployment().Attribute(ctx, c.team, plc, tcp.LocalAddr().String(), source, "forwarded for "+c.team); err != nil {
		s.log.Error("forward: attribute", "team", c.team, "plc", plc, "err", err)
		t.shut(websocket.CloseInternalServerErr, "could not set up the tunnel")
		t.finish()
		return
	}
	if !s.fwd.register(ft, t) {
		t.shut(websocket.ClosePolicyViolation, "forwarding is off")
		t.finish()
		return
	}
	defer s.fwd.unregister(ft, t)
	s.log.Info("forward: open", "team", c.team, "plc", plc, "source", source)
	t.run()
	s.log.Info("forward: closed", "team", c.team, "plc", plc, "source", source, "up", t.up.Load(), "down", t.down.Load(),
		"for", time.Since(t.opened).Round(time.Millisecond), "why", t.reason)
}

// tunnel is one forwarded connection: a WebSocket to the trainee and a TCP
// connection to the PLC. Its read pump (WebSocket → PLC) is the only
// reader of the WebSocket, its write pump (PLC → WebSocket) the only data
// writer; pings and close frames go with WriteControl, which may run
// alongside.
type tunnel struct {
	s                  *Server
	team, plc, source  string
	ws                 *websocket.Conn
	tcp                net.Conn
	ft                 *fwdTeam
	ctx                context.Context
	cancel             context.CancelFunc
	idle               time.Duration
	opened             time.Time
	lastData           atomic.Int64 // unix nanoseconds
	up, down           atomic.Int64 // bytes
	closing            atomic.Bool
	once               sync.Once
	reason             string // why it closed (set once, in shut)
	downDone, aliveEnd chan struct{}
}

func (t *tunnel) touch() { t.lastData.Store(time.Now().UnixNano()) }

// shut starts closing: a close frame to the trainee with the reason, the
// PLC connection closed, waits aborted. The read pump then waits briefly
// for the trainee's close frame.
func (t *tunnel) shut(code int, reason string) {
	t.once.Do(func() {
		t.reason = reason
		if t.reason == "" {
			t.reason = "closed"
		}
		t.closing.Store(true)
		t.cancel()
		t.tcp.Close()
		t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
		t.ws.SetReadDeadline(time.Now().Add(forwardCloseGrace))
	})
}

// finish releases the connections.
func (t *tunnel) finish() {
	t.cancel()
	t.tcp.Close()
	t.ws.Close()
}

func (t *tunnel) run() {
	t.downDone, t.aliveEnd = make(chan struct{}), make(chan struct{})
	go t.writePump()
	go t.keepAlive()
	t.readPump()
	t.shut(websocket.CloseNormalClosure, "")
	<-t.downDone
	<-t.aliveEnd
	t.finish()
}

// take waits until the limiter allows n bytes, in steps of its burst.
func take(ctx context.Context, l *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// extendRead gives the trainee another pongWait, unless the tunnel is
// closing: shut sets closing before its short deadline, so checking after
// setting never leaves the long one in place.
func (t *tunnel) extendRead() {
	t.ws.SetReadDeadline(time.Now().Add(pongWait))
	if t.closing.Load() {
		t.ws.SetReadDeadline(time.Now().Add(forwardCloseGrace))
	}
}

// readPump copies the trainee's binary messages to the PLC.
func (t *tunnel) readPump() {
	t.extendRead()
	t.ws.SetPongHandler(func(string) error {
		t.extendRead()
		return nil
	})
	for {
		typ, msg, err := t.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case t.closing.Load():
			case errors.As(err, &ce):
				t.shut(websocket.CloseNormalClosure, "the trainee closed the connection")
			default:
				t.shut(websocket.CloseGoingAway, "read: "+err.Error())
			}
			return
		}
		if t.closing.Load() {
			continue // draining until the trainee's close frame
		}
		t.extendRead()
		if typ != websocket.BinaryMessage {
			t.shut(websocket.CloseUnsupportedData, "send Modbus/TCP bytes as binary messages")
			continue
		}
		if len(msg) == 0 {
			continue
		}
		t.touch()
		if err := take(t.ctx, t.ft.up, len(msg)); err != nil {
			continue // closing
		}
		t.extendRead() // a long wait for the rate is not the trainee's silence
		t.tcp.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := t.tcp.Write(msg); err != nil {
			t.shut(websocket.CloseGoingAway, "the PLC connection failed")
			continue
		}
		t.up.Add(int64(len(msg)))
		t.ft.bytesUp.Add(int64(len(msg)))
	}
}

// writePump copies what the PLC sends to the trainee as binary messages.
func (t *tunnel) writePump() {
	defer close(t.downDone)
	buf := make([]byte, min(MaxForwardMessage, t.ft.down.Burst()))
	for {
		n, err := t.tcp.Read(buf)
		if n > 0 {
			t.touch()
			if take(t.ctx, t.ft.down, n) != nil {
				return
			}
			t.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := t.ws.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
				t.shut(websocket.CloseGoingAway, "write: "+err.Error())
				return
			}
			t.down.Add(int64(n))
			t.ft.bytesDn.Add(int64(n))
		}
		if err != nil {
			t.shut(websocket.CloseNormalClosure, "the PLC closed the connection")
			return
		}
	}
}

// keepAlive pings the trainee, closes the tunnel when idle and when the
// server shuts down.
func (t *tunnel) keepAlive() {
	defer close(t.aliveEnd)
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	idle := time.NewTimer(t.idle)
	defer idle.Stop()
	for {
		select {
		case <-t.ctx.Done():
			// Forwarding off, the server stopping or the tunnel closing.
			t.shut(websocket.CloseGoingAway, "server shutting down")
			return
		case <-ping.C:
			if err := t.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				t.shut(websocket.CloseGoingAway, "ping: "+err.Error())
				return
			}
		case <-idle.C:
			quiet := time.Since(time.Unix(0, t.lastData.Load()))
			if quiet >= t.idle {
				t.shut(websocket.CloseGoingAway, fmt.Sprintf("idle for %v", t.idle))
				return
			}
			idle.Reset(t.idle - quiet)
		}
	}
}
