// Package tui is the trainee's terminal UI: a bubbletea program that
// follows the exercise over the scoreboard's WebSocket and sends the team's
// answers, actions and hint requests.
package tui

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/scoreboard"
	"github.com/icsrange/icsrange/tui/common"
)

// Messages the client delivers to the program.
type (
	// ConnMsg reports the connection state.
	ConnMsg struct {
		State string        // connecting, connected, reconnecting, rejected
		Retry time.Duration // for reconnecting
		Err   error
	}
	// SnapshotMsg is the state on (re)connect.
	SnapshotMsg struct {
		View    engine.TeamView
		Events  []engine.EventView
		Trends  map[string][]float64
		Resumed bool
		Seq     int64
		// The team's newest traffic-log rows and audit entries, oldest
		// first.
		Traffic []engine.TrafficView
		Audit   []engine.AuditView
	}
	// ViewMsg is a fresh view.
	ViewMsg struct{ View engine.TeamView }
	// EventMsg is a new event.
	EventMsg struct{ Event engine.EventView }
	// TrafficMsg is what the team's PLCs served since the last batch: new
	// traffic-log rows and audit entries, oldest first.
	TrafficMsg struct {
		Traffic []engine.TrafficView
		Audit   []engine.AuditView
	}
)

// Client keeps a WebSocket to the server open: it reconnects with backoff
// and resumes from the last event seen, so nothing is missed or repeated.
type Client struct {
	wsURL  string
	token  string
	dialer websocket.Dialer
	msgs   chan tea.Msg

	mu      sync.Mutex
	conn    *websocket.Conn
	lastSeq int64
	nextID  int
	waiting map[string]chan common.Reply
}

// WSURL turns a server URL (http, https, ws or wss) into the WebSocket URL.
func WSURL(server string) (string, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("server url %q: %w", server, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server url %q: want http(s)://host:port", server)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	return u.String(), nil
}

// NewClient prepares a client; Run connects.
func NewClient(server, token string, tlsConfig *tls.Config) (*Client, error) {
	ws, err := WSURL(server)
	if err != nil {
		return nil, err
	}
	return &Client{wsURL: ws, token: token, msgs: make(chan tea.Msg, 256), waiting: map[string]chan common.Reply{},
		dialer: websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: tlsConfig}}, nil
}

// Next is a tea.Cmd that waits for the client's next message.
func (c *Client) Next() tea.Msg { return <-c.msgs }

func (c *Client) emit(ctx context.Context, m tea.Msg) {
	select {
	case c.msgs <- m:
	case <-ctx.Done():
	}
}

// Run connects and reconnects until ctx ends or the token is rejected.
func (c *Client) Run(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		c.emit(ctx, ConnMsg{State: "connecting"})
		up, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		var rej *rejectedError
		if errors.As(err, &rej) {
			c.emit(ctx, ConnMsg{State: "rejected", Err: err})
			return
		}
		if up {
			backoff = 500 * time.Millisecond // it was up; start over quickly
		}
		wait := backoff + time.Duration(rand.Int64N(int64(backoff/2)+1))
		c.emit(ctx, ConnMsg{State: "reconnecting", Retry: wait, Err: err})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return e.msg }

// session is one connection: hello, snapshot, then deltas. It always ends
// with an error; up reports whether the server got as far as a snapshot.
func (c *Client) session(ctx context.Context) (up bool, err error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.token)
	conn, resp, err := c.dialer.DialContext(ctx, c.wsURL, h)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return false, &rejectedError{"the server rejected the token"}
		}
		return false, fmt.Errorf("connect %s: %w", c.wsURL, err)
	}
	conn.SetReadLimit(8 << 20)
	c.mu.Lock()
	c.conn = conn
	last := c.lastSeq
	c.mu.Unlock()
	defer func() {
		conn.Close()
		c.mu.Lock()
		c.conn = nil
		for id, ch := range c.waiting {
			ch <- common.Reply{Err: errors.New("connection lost before the server replied")}
			delete(c.waiting, id)
		}
		c.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := c.write(scoreboard.Message{Type: "hello", Data: mustJSON(map[string]any{"last_seq": last})}); err != nil {
		return false, err
	}
	connected := false
	var queue [][]byte // a frame may carry several messages, one per line
	for {
		if len(queue) == 0 {
			conn.SetReadDeadline(time.Now().Add(90 * time.Second))
			_, frame, err := conn.ReadMessage()
			if err != nil {
				return connected, fmt.Errorf("read: %w", err)
			}
			queue = bytes.Split(frame, []byte{'\n'})
		}
		data := queue[0]
		queue = queue[1:]
		if len(data) == 0 {
			continue
		}
		var m scoreboard.Message
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		switch m.Type {
		case "snapshot":
			var s struct {
				Role    string             `json:"role"`
				View    engine.TeamView    `json:"view"`
				Events  []engine.EventView `json:"events"`
				Resumed bool               `json:"resumed"`
				Trends  struct {
					Values map[string][]float64 `json:"values"`
				} `json:"trends"`
				Traffic []engine.TrafficView `json:"traffic"`
				Audit   []engine.AuditView   `json:"audit"`
			}
			if err := json.Unmarshal(m.Data, &s); err != nil {
				return connected, fmt.Errorf("snapshot: %w", err)
			}
			if s.Role != "team" {
				return connected, &rejectedError{"this token is not a team token; the terminal UI is for teams"}
			}
			c.mu.Lock()
			c.lastSeq = max(c.lastSeq, m.Seq)
			c.mu.Unlock()
			if !connected {
				connected = true
				c.emit(ctx, ConnMsg{State: "connected"})
			}
			c.emit(ctx, SnapshotMsg{View: s.View, Events: s.Events, Trends: s.Trends.Values, Resumed: s.Resumed, Seq: m.Seq,
				Traffic: s.Traffic, Audit: s.Audit})
		case "view":
			var v engine.TeamView
			if json.Unmarshal(m.Data, &v) == nil {
				c.emit(ctx, ViewMsg{View: v})
			}
		case "traffic":
			var b engine.TrafficBatch
			if json.Unmarshal(m.Data, &b) == nil && (len(b.Traffic) > 0 || len(b.Audit) > 0) {
				c.emit(ctx, TrafficMsg{Traffic: b.Traffic, Audit: b.Audit})
			}
		case "event":
			var e engine.EventView
			if json.Unmarshal(m.Data, &e) != nil {
				continue
			}
			c.mu.Lock()
			fresh := e.Seq > c.lastSeq
			if fresh {
				c.lastSeq = e.Seq
			}
			c.mu.Unlock()
			if fresh {
				c.emit(ctx, EventMsg{Event: e})
			}
		case "reply", "error":
			c.mu.Lock()
			ch, ok := c.waiting[m.ID]
			delete(c.waiting, m.ID)
			c.mu.Unlock()
			if !ok {
				if m.ID == "" && m.Type == "error" {
					var ae struct{ Code, Message string }
					json.Unmarshal(m.Data, &ae)
					if ae.Code == "unauthorized" {
						return connected, &rejectedError{ae.Message}
					}
				}
				continue
			}
			r := common.Reply{Data: m.Data}
			if m.Type == "error" {
				var ae struct{ Code, Message string }
				json.Unmarshal(m.Data, &ae)
				r.Err = errors.New(ae.Message)
			}
			ch <- r
		}
	}
}

func (c *Client) write(m scoreboard.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return errors.New("not connected")
	}
	b, _ := json.Marshal(m)
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// Send returns a tea.Cmd that sends a command and delivers the server's
// Reply (or a timeout) to the program.
func (c *Client) Send(kind string, data any) tea.Cmd {
	return func() tea.Msg {
		c.mu.Lock()
		c.nextID++
		id := "c" + strconv.Itoa(c.nextID)
		ch := make(chan common.Reply, 1)
		c.waiting[id] = ch
		c.mu.Unlock()
		if err := c.write(scoreboard.Message{Type: kind, ID: id, Data: mustJSON(data)}); err != nil {
			c.mu.Lock()
			delete(c.waiting, id)
			c.mu.Unlock()
			return common.Reply{Kind: kind, Err: fmt.Errorf("send: %w", err)}
		}
		select {
		case r := <-ch:
			r.Kind = kind
			return r
		case <-time.After(15 * time.Second):
			c.mu.Lock()
			delete(c.waiting, id)
			c.mu.Unlock()
			return common.Reply{Kind: kind, Err: errors.New("no reply from the server in 15 s")}
		}
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
