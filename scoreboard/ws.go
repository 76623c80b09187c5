package scoreboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/token"
)

const (
	writeWait  = 10 * time.Second // a write's deadline (Options.WriteWait for viewers)
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
	helloWait  = 10 * time.Second
	// maxPending bounds what a client may queue while it catches up.
	maxPending = 4096
	// recentEvents is how much feed a fresh client gets with its snapshot:
	// the newest events of its scope.
	recentEvents = 50
	// resumeEvents is the most missed events a resuming client is sent;
	// one that missed more gets the recent feed, as a fresh client does,
	// and pages back through GET /api/events for the rest.
	resumeEvents = 200
	// maxSnapshots is how many snapshots may be built at once.
	maxSnapshots = 4
)

// client is one WebSocket connection. Its read pump handles hello and
// commands; its write pump is the only writer to the connection.
type client struct {
	s      *Server
	conn   *websocket.Conn
	send   chan []byte
	remote string
	// anon is the source address whose anonymous slot the client holds
	// until it authenticates or leaves; "" once released.
	anon string

	mu      sync.Mutex
	scope   engine.Scope
	hello   bool
	live    bool // false while catching up: deliveries wait in pending
	pending []pendingMsg
	sentSeq int64
	closed  bool
}

type pendingMsg struct {
	seq int64
	msg []byte
}

func (c *client) authed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello
}

// deliver queues a message without blocking; false means the client is
// too slow and must go. seq 0 marks a message that is not an event.
func (c *client) deliver(seq int64, msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return true
	}
	if !c.live {
		if len(c.pending) >= maxPending {
			return false
		}
		c.pending = append(c.pending, pendingMsg{seq, msg})
		return true
	}
	if seq > 0 && seq <= c.sentSeq {
		return true // already sent during catch-up
	}
	select {
	case c.send <- msg:
		if seq > c.sentSeq {
			c.sentSeq = seq
		}
		return true
	default:
		return false
	}
}

// direct queues a message from the client's own goroutine (replies,
// catch-up), also without blocking.
func (c *client) direct(msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.send <- msg:
		return true
	default:
		return false
	}
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.send)
	}
}

var newline = []byte{'\n'}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 8192}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	up := upgrader
	up.CheckOrigin = s.checkOrigin
	// A token in the Authorization header (the TUI) authenticates at once;
	// browsers, which can't set it, send it in their hello.
	var preRole engine.Role
	var preTeam string
	if tok, ok := token.FromHeader(r.Header.Get("Authorization")); ok {
		if preRole, preTeam = s.x.Who(tok); preRole == engine.RoleNone {
			writeError(w, http.StatusUnauthorized, "unauthorized", "unknown token")
			return
		}
	}
	c := &client{s: s, send: make(chan []byte, s.opts.ClientBuffer), remote: r.RemoteAddr}
	if preRole != engine.RoleNone {
		c.scope = who{preRole, preTeam}.scope()
	} else {
		// Not (yet) authenticated: bounded per source address, so one host
		// can't hold the server's memory and snapshots.
		addr := sourceAddr(r.RemoteAddr)
		if !s.anon.take(addr) {
			writeError(w, http.StatusTooManyRequests, "too_many_connections",
				fmt.Sprintf("at most %d WebSocket connections without a token from one address", s.opts.PublicPerAddr))
			return
		}
		c.anon = addr
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		c.releaseAnon()
		return // the upgrader has answered
	}
	conn.SetReadLimit(MaxWSMessage)
	c.conn = conn
	select {
	case s.hub.register <- c:
	case <-r.Context().Done():
		c.releaseAnon()
		conn.Close()
		return
	case <-s.hub.done:
		c.releaseAnon()
		conn.Close()
		return
	}
	go c.writePump()
	c.readPump(preRole != engine.RoleNone)
}

// releaseAnon gives back the client's anonymous slot, once.
func (c *client) releaseAnon() {
	c.mu.Lock()
	addr := c.anon
	c.anon = ""
	c.mu.Unlock()
	if addr != "" {
		c.s.anon.release(addr)
	}
}

// sourceAddr is the host part of a remote address.
func sourceAddr(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// perAddr counts connections by source address against a bound.
type perAddr struct {
	max int // <= 0: no bound
	mu  sync.Mutex
	n   map[string]int
}

func (p *perAddr) take(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max > 0 && p.n[addr] >= p.max {
		return false
	}
	p.n[addr]++
	return true
}

func (p *perAddr) release(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[addr]--; p.n[addr] <= 0 {
		delete(p.n, addr)
	}
}

func (c *client) writePump() {
	t := time.NewTicker(pingPeriod)
	defer func() {
		t.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(c.s.opts.WriteWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				return
			}
			// Messages waiting in the queue go out in the same frame, one
			// per line: under load a client costs one write, not one per
			// message (JSON never holds a raw newline).
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			w.Write(msg)
			closed := false
			for n := len(c.send); n > 0 && !closed; n-- {
				next, ok := <-c.send
				if !ok {
					closed = true
					break
				}
				w.Write(newline)
				w.Write(next)
			}
			if err := w.Close(); err != nil || closed {
				if closed {
					c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				}
				return
			}
		case <-t.C:
			c.conn.SetWriteDeadline(time.Now().Add(c.s.opts.WriteWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// hello is the first client message.
type hello struct {
	Token   string `json:"token,omitempty"`
	LastSeq int64  `json:"last_seq,omitempty"` // resume after this seq
}

func (c *client) readPump(preAuthed bool) {
	s := c.s
	// Leaving, the client is unregistered; the hub closes its send queue
	// and the write pump flushes what is queued (such as the error that
	// ended the session), sends a close frame and closes the connection.
	defer func() {
		c.releaseAnon()
		select {
		case s.hub.unregister <- c:
		case <-s.hub.done:
			c.close()
		}
	}()
	c.conn.SetReadDeadline(time.Now().Add(helloWait))
	c.conn.SetPongHandler(func(string) error {
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		return nil
	})
	ctx := context.Background()
	for {
		var m Message
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if err := json.Unmarshal(data, &m); err != nil {
			c.direct(encode("error", 0, "", apiError{"bad_json", "messages are JSON: {type, id, data}"}))
			continue
		}
		if !c.authed() {
			if m.Type != "hello" {
				c.direct(encode("error", 0, m.ID, apiError{"hello_first", "send hello first"}))
				return
			}
			var h hello
			if len(m.Data) > 0 {
				if err := json.Unmarshal(m.Data, &h); err != nil {
					c.direct(encode("error", 0, m.ID, apiError{"bad_json", err.Error()}))
					return
				}
			}
			if !preAuthed && h.Token != "" {
				role, team := s.x.Who(h.Token)
				if role == engine.RoleNone {
					c.direct(encode("error", 0, m.ID, apiError{"unauthorized", "unknown token"}))
					return
				}
				c.mu.Lock()
				c.scope = who{role, team}.scope()
				c.mu.Unlock()
				c.releaseAnon()
			}
			c.conn.SetReadDeadline(time.Now().Add(pongWait))
			if err := c.catchUp(ctx, h.LastSeq); err != nil {
				s.log.Warn("websocket catch-up", "err", err)
				return
			}
			continue
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		res, err := c.command(ctx, m)
		if err != nil {
			_, ae := statusOf(err)
			var ce *cmdError
			if errors.As(err, &ce) {
				ae = apiError{ce.code, ce.msg}
			}
			c.direct(encode("error", 0, m.ID, ae))
			continue
		}
		c.direct(encode("reply", 0, m.ID, res))
	}
}

// catchUp sends the snapshot — the view and a bounded feed: the events
// the client missed, or the recent ones — then lets live deliveries
// through, skipping any that the snapshot already carried. Its cost is the
// view and at most resumeEvents+1 rows, however long the log.
func (c *client) catchUp(ctx context.Context, lastSeq int64) error {
	s := c.s
	c.mu.Lock()
	c.hello = true
	scope := c.scope
	c.mu.Unlock()
	// Snapshots are built a few at a time: a crowd of hellos waits its
	// turn (its live deliveries in pending) instead of starving the hub
	// and the clients already live of the CPU.
	select {
	case s.snapshots <- struct{}{}:
	case <-s.hub.done:
		return errors.New("the server is stopping")
	}
	defer func() { <-s.snapshots }()
	// Registered with the hub before reading history, so nothing committed
	// from here on is missed; it waits in pending until we are done.
	last, err := s.x.Store().LastSeq(ctx)
	if err != nil {
		return err
	}
	// A resuming client gets every event it missed, if they fit;
	// otherwise, like a fresh client, the recent feed and the word that
	// older events were left out. Counting reads an index only.
	resumed := false
	if lastSeq > 0 && lastSeq <= last {
		n, err := s.count(ctx, scope, store.Page{After: lastSeq, Before: last + 1, Limit: resumeEvents + 1})
		if err != nil {
			return err
		}
		resumed = n <= resumeEvents
	}
	p := store.Page{Before: last + 1, Limit: recentEvents + 1, Newest: true} // one more says whether there are older
	if resumed {
		p = store.Page{After: lastSeq, Before: last + 1, Limit: resumeEvents}
	}
	page, err := s.page(ctx, scope, p)
	if err != nil {
		return err
	}
	more := !resumed && len(page) > recentEvents
	if more {
		page = page[1:]
	}
	evs := s.render(scope, page)
	v, err := s.view(who{scope.Role, scope.Team})
	if err != nil {
		return err
	}
	snap := map[string]any{"role": roleName(scope), "team": scope.Team, "view": v, "events": evs, "resumed": resumed, "more": more}
	if scope.Role == engine.RoleTeam {
		snap["trends"] = s.hub.trends.get(scope.Team)
		tx, err := s.x.Store().Traffic(ctx, store.TrafficFilter{Team: scope.Team, Limit: 200, Newest: true})
		if err != nil {
			return err
		}
		au, err := s.x.Store().Audit(ctx, scope.Team, "", 0, 100, true)
		if err != nil {
			return err
		}
		snap["traffic"] = engine.ForTeam(engine.ViewTraffic(tx))
		snap["audit"] = engine.ViewAudit(au)
	}
	if !c.direct(encode("snapshot", last, "", snap)) {
		return fmt.Errorf("client gone")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sentSeq = last
	for _, p := range c.pending {
		if p.seq > 0 && p.seq <= c.sentSeq {
			continue
		}
		select {
		case c.send <- p.msg:
			c.sentSeq = max(c.sentSeq, p.seq)
		default:
			return fmt.Errorf("client too slow during catch-up")
		}
	}
	c.pending = nil
	c.live = true
	return nil
}

func roleName(s engine.Scope) string {
	switch s.Role {
	case engine.RoleInstructor:
		return "instructor"
	case engine.RoleTeam:
		return "team"
	}
	return "public"
}

type cmdError struct{ code, msg string }

func (e *cmdError) Error() string { return e.msg }

// command runs a client's command with the same rules as the HTTP API.
func (c *client) command(ctx context.Context, m Message) (any, error) {
	s := c.s
	c.mu.Lock()
	w := who{c.scope.Role, c.scope.Team}
	c.mu.Unlock()
	need := map[string]access{"answer": teamOnly, "action": teamOnly, "hint": anyRole, "control": instructorOnly,
		"fire": instructorOnly, "adjust": instructorOnly, "broadcast": instructorOnly, "state": anyRole}
	a, ok := need[m.Type]
	if !ok {
		return nil, &cmdError{"unknown_type", "unknown message type " + m.Type}
	}
	switch {
	case w.role == engine.RoleNone:
		return nil, &cmdError{"unauthorized", "this needs a token in hello"}
	case a == teamOnly && w.role != engine.RoleTeam:
		return nil, &cmdError{"forbidden", "this needs a team token"}
	case a == instructorOnly && w.role != engine.RoleInstructor:
		return nil, &cmdError{"forbidden", "this needs the instructor token"}
	}
	dec := func(v any) error {
		if err := strictJSON(m.Data, v); err != nil {
			return &cmdError{"bad_json", err.Error()}
		}
		return nil
	}
	switch m.Type {
	case "answer":
		var req answerReq
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.answer(ctx, w, req)
	case "action":
		var req actionReq
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.action(ctx, w, req)
	case "hint":
		var req hintReq
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.hint(ctx, w, req)
	case "control":
		var req struct {
			Op string `json:"op"`
		}
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.control(ctx, req.Op)
	case "fire":
		var req struct {
			Inject string `json:"inject"`
			Team   string `json:"team,omitempty"`
		}
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.fire(ctx, req.Inject, fireReq{Team: req.Team})
	case "adjust":
		var req adjustReq
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.adjust(ctx, req)
	case "broadcast":
		var req broadcastReq
		if err := dec(&req); err != nil {
			return nil, err
		}
		return s.broadcast(ctx, req)
	case "state":
		return s.view(w)
	}
	return nil, &cmdError{"unknown_type", "unknown message type " + m.Type}
}

func strictJSON(data []byte, v any) error {
	if len(data) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data holds more than one JSON value")
	}
	return nil
}
