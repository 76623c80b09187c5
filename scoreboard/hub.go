package scoreboard

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine"
)

// Message is the one shape on the wire, both ways:
// {"type": "...", "seq": N, "id": "...", "data": {...}}.
type Message struct {
	Type string          `json:"type"`
	Seq  int64           `json:"seq,omitempty"`
	ID   string          `json:"id,omitempty"` // correlates a command and its reply
	Data json.RawMessage `json:"data,omitempty"`
}

func encode(typ string, seq int64, id string, data any) []byte {
	d, err := json.Marshal(data)
	if err != nil {
		d = []byte(`{}`)
	}
	b, _ := json.Marshal(Message{Type: typ, Seq: seq, ID: id, Data: d})
	return b
}

// hub owns the set of live clients. One goroutine (run) changes the set and
// fans out; a client that can't keep up is dropped, never waited for.
type hub struct {
	s          *Server
	register   chan *client
	unregister chan *client
	done       chan struct{} // closed when run returns

	mu      sync.Mutex // guards clients for closeAll and Clients
	clients map[*client]struct{}

	trends *trends
}

func newHub(s *Server) *hub {
	return &hub{s: s, register: make(chan *client), unregister: make(chan *client, 64), done: make(chan struct{}),
		clients: map[*client]struct{}{}, trends: newTrends(120)}
}

// Clients is the number of connected WebSocket clients.
func (s *Server) Clients() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.clients)
}

func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	updates, cancel := h.s.x.Feed().Subscribe(4096)
	defer func() { cancel() }()
	tick := time.NewTicker(h.s.opts.ViewInterval)
	defer tick.Stop()
	h.sampleTrends()
	for {
		select {
		case <-ctx.Done():
			h.closeAll()
			return
		case c := <-h.register:
			h.mu.Lock()
			h.clients[c] = struct{}{}
			h.mu.Unlock()
		case c := <-h.unregister:
			h.remove(c)
		case u, ok := <-updates:
			if !ok {
				// The feed dropped us (an event burst outran us); resubscribe
				// and send everyone fresh views so nothing stays stale.
				updates, cancel = h.s.x.Feed().Subscribe(4096)
				h.pushViews()
				continue
			}
			if u.Traffic != nil {
				h.fanOutTraffic(u.Traffic)
				continue
			}
			// The last event of a burst carries fresh views in the same
			// frame, so a score change costs each viewer one write, and a
			// burst one view, not one per event.
			h.fanOut(u, len(updates) == 0)
		case <-tick.C:
			h.sampleTrends()
			h.pushViews()
		}
	}
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		c.close()
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		delete(h.clients, c)
		c.close()
	}
}

// fanOut renders an event once per scope present and queues it to each
// client that may see it, followed (withViews) by that scope's fresh view.
func (h *hub) fanOut(u engine.Update, withViews bool) {
	sc := h.s.x.Scenario()
	cache := map[engine.Scope][]byte{}
	h.mu.Lock()
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	for _, c := range clients {
		if !c.authed() {
			continue
		}
		k := c.scope
		msg, done := cache[k]
		if !done {
			if v, ok := engine.ViewEvent(sc, u, c.scope); ok {
				msg = encode("event", u.Event.Seq, "", v)
				if withViews {
					if view, err := h.s.view(who{c.scope.Role, c.scope.Team}); err == nil {
						msg = append(append(msg, '\n'), encode("view", 0, "", view)...)
					}
				}
			}
			cache[k] = msg
		}
		if msg != nil && !c.deliver(u.Event.Seq, msg) {
			h.dropSlow(c)
		}
	}
}

// fanOutTraffic sends new traffic-log rows to the team's clients and the
// instructors; never to the public or other teams.
func (h *hub) fanOutTraffic(b *engine.TrafficBatch) {
	msg := encode("traffic", 0, "", b)
	teamBatch := *b
	teamBatch.Traffic = engine.ForTeam(append([]engine.TrafficView(nil), b.Traffic...))
	teamMsg := encode("traffic", 0, "", teamBatch)
	h.mu.Lock()
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	for _, c := range clients {
		if !c.authed() {
			continue
		}
		var m []byte
		switch {
		case c.scope.Role == engine.RoleInstructor:
			m = msg
		case c.scope.Role == engine.RoleTeam && c.scope.Team == b.Team:
			m = teamMsg
		default:
			continue
		}
		if !c.deliver(0, m) {
			h.dropSlow(c)
		}
	}
}

func (h *hub) dropSlow(c *client) {
	h.s.log.Warn("dropping slow websocket client", "role", roleName(c.scope), "team", c.scope.Team, "remote", c.remote)
	h.remove(c)
}

// pushViews sends every client its current view, computed once per scope.
func (h *hub) pushViews() {
	h.mu.Lock()
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	cache := map[engine.Scope][]byte{}
	for _, c := range clients {
		if !c.authed() {
			continue
		}
		k := c.scope
		msg, done := cache[k]
		if !done {
			v, err := h.s.view(who{c.scope.Role, c.scope.Team})
			if err == nil {
				msg = encode("view", 0, "", v)
			}
			cache[k] = msg
		}
		if msg != nil && !c.deliver(0, msg) {
			h.dropSlow(c)
		}
	}
}

// sampleTrends records each team's HMI values once a second, so a client
// that connects late still draws the last two minutes.
func (h *hub) sampleTrends() {
	x := h.s.x
	if _, phase := x.Clock(); phase != engine.PhaseRunning {
		return
	}
	s := x.Summary()
	for _, t := range s.Teams {
		v, err := x.TeamView(t.Name)
		if err != nil {
			continue
		}
		h.trends.add(t.Name, v.Exercise.ClockMS, v.Plant)
	}
}

// trends keeps the last n samples of each team's analog HMI values.
type trends struct {
	mu   sync.Mutex
	n    int
	data map[string]*teamTrend
}

type teamTrend struct {
	ClockMS []int64              `json:"clock_ms"`
	Values  map[string][]float64 `json:"values"` // "plc.tag" → samples, aligned with ClockMS
}

func newTrends(n int) *trends { return &trends{n: n, data: map[string]*teamTrend{}} }

func (t *trends) add(team string, clock int64, plant []engine.PLCView) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tt := t.data[team]
	if tt == nil {
		tt = &teamTrend{Values: map[string][]float64{}}
		t.data[team] = tt
	}
	if n := len(tt.ClockMS); n > 0 && tt.ClockMS[n-1] == clock {
		return
	}
	trim := len(tt.ClockMS) >= t.n
	if trim {
		tt.ClockMS = tt.ClockMS[1:]
	}
	tt.ClockMS = append(tt.ClockMS, clock)
	for _, p := range plant {
		if !p.Online {
			continue
		}
		for _, tag := range p.Tags {
			if tag.Table != "ir" {
				continue
			}
			k := p.ID + "." + tag.Name
			s := tt.Values[k]
			if trim && len(s) > 0 {
				s = s[1:]
			}
			// Keep samples aligned with the clock even after an HMI outage.
			for len(s) < len(tt.ClockMS)-1 {
				s = append(s, tag.Value)
			}
			tt.Values[k] = append(s, tag.Value)
		}
	}
}

func (t *trends) get(team string) *teamTrend {
	t.mu.Lock()
	defer t.mu.Unlock()
	tt := t.data[team]
	if tt == nil {
		return &teamTrend{Values: map[string][]float64{}}
	}
	out := &teamTrend{ClockMS: append([]int64(nil), tt.ClockMS...), Values: map[string][]float64{}}
	for k, v := range tt.Values {
		out.Values[k] = append([]float64(nil), v...)
	}
	return out
}
