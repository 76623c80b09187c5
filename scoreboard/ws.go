package scoreboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/token"
)

const (
	writeWait  = 10 * time.Second
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
	helloWait  = 10 * time.Second
	// maxPending bounds what a client may queue while it catches up.
	maxPending = 4096
	// recentEvents is how much feed a fresh client gets with its snapshot.
	recentEvents = 50
)

// client is one WebSocket connection. Its read pump handles hello and
// commands; its write pump is the only writer to the connection.
type client struct {
	s      *Server
	conn   *websocket.Conn
	send   chan []byte
	remote string

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
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	conn.SetReadLimit(MaxWSMessage)
	c := &client{s: s, conn: conn, send: make(chan []byte, s.opts.ClientBuffer), remote: r.RemoteAddr}
	if preRole != engine.RoleNone {
		c.scope = who{preRole, preTeam}.scope()
	}
	select {
	case s.hub.register <- c:
	case <-r.Context().Done():
		conn.Close()
		return
	case <-s.hub.done:
		conn.Close()
		return
	}
	go c.writePump()
	c.readPump(preRole != engine.RoleNone)
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
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
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
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
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
				c.scope = who{role, team}.scope()
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

// catchUp sends the hello reply, the view and the events the client missed
// (or recent ones), then lets live deliveries through, skipping any that
// the catch-up already carried.
func (c *client) catchUp(ctx context.Context, lastSeq int64) error {
	s := c.s
	c.mu.Lock()
	c.hello = true
	scope := c.scope
	c.mu.Unlock()
	// Registered with the hub before reading history, so nothing committed
	// from here on is missed; it waits in pending until we are done.
	after := lastSeq
	last, err := s.x.Store().LastSeq(ctx)
	if err != nil {
		return err
	}
	if lastSeq <= 0 || lastSeq > last {
		after = max(0, last-recentEvents*4) // a fresh client gets the recent feed
	}
	var evs []engine.EventView
	upTo := after
	for {
		page, next, err := s.events(ctx, scope, upTo, MaxEventsPage, "")
		if err != nil {
			return err
		}
		evs = append(evs, page...)
		if next == upTo {
			break
		}
		upTo = next
	}
	resumed := lastSeq > 0 && lastSeq <= last
	if !resumed && len(evs) > recentEvents {
		evs = evs[len(evs)-recentEvents:]
	}
	v, err := s.view(who{scope.Role, scope.Team})
	if err != nil {
		return err
	}
	snap := map[string]any{"role": roleName(scope), "team": scope.Team, "view": v, "events": evs, "resumed": resumed}
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
	if !c.direct(encode("snapshot", upTo, "", snap)) {
		return fmt.Errorf("client gone")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sentSeq = upTo
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
