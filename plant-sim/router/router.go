package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/internal/httpapi"
)

// Applier puts a rendered rule set in force (*NFT, or a fake in tests).
type Applier interface {
	Apply(rules []Rule) error
}

// Router holds the conduits' state and keeps the applied rule set in step.
type Router struct {
	opt   Options
	apply Applier

	mu       sync.Mutex
	conduits []Conduit
}

// ErrUnknownConduit is returned for a conduit the router was not started with.
var ErrUnknownConduit = errors.New("unknown conduit")

// New returns a router for conduits; nothing is applied until Start.
// Conduits must be distinct by (from, to).
func New(conduits []Conduit, opt Options, apply Applier) (*Router, error) {
	for i, c := range conduits {
		for _, d := range conduits[:i] {
			if c.From == d.From && c.To == d.To {
				return nil, fmt.Errorf("conduit %s>%s given twice (list every port in one)", c.From, c.To)
			}
		}
	}
	cs := make([]Conduit, len(conduits))
	for i, c := range conduits {
		c.Ports = slices.Clone(c.Ports)
		cs[i] = c
	}
	return &Router{opt: opt, apply: apply, conduits: cs}, nil
}

// Start applies the initial rule set.
func (r *Router) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.apply.Apply(Render(r.conduits, r.opt))
}

// Conduits returns a copy of the conduits' state.
func (r *Router) Conduits() []Conduit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.conduits)
}

// Rules is the rule set for the current state.
func (r *Router) Rules() []Rule {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Render(r.conduits, r.opt)
}

// Set opens or cuts the conduit from → to and applies the new rule set; if
// applying fails the state is left as it was. It returns the new state.
func (r *Router) Set(from, to netip.Prefix, open bool) ([]Conduit, error) {
	from, to = from.Masked(), to.Masked()
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.conduits, func(c Conduit) bool { return c.From == from && c.To == to })
	if i < 0 {
		return nil, fmt.Errorf("%w %s>%s", ErrUnknownConduit, from, to)
	}
	if r.conduits[i].Open != open {
		next := slices.Clone(r.conduits)
		next[i].Open = open
		if err := r.apply.Apply(Render(next, r.opt)); err != nil {
			return nil, err
		}
		r.conduits = next
	}
	return slices.Clone(r.conduits), nil
}

// ConduitJSON is a conduit in the management API.
type ConduitJSON struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Ports string `json:"ports"` // "502,3389" or "any", as --conduit gives it
	Open  bool   `json:"open"`
}

// State is the management API's answer to health and conduit changes.
type State struct {
	OK       bool          `json:"ok"`
	Conduits []ConduitJSON `json:"conduits"`
}

func stateOf(cs []Conduit) State {
	s := State{OK: true, Conduits: make([]ConduitJSON, len(cs))}
	for i, c := range cs {
		s.Conduits[i] = ConduitJSON{From: c.From.String(), To: c.To.String(), Ports: c.PortsString(), Open: c.Open}
	}
	return s
}

const maxBody = 4 << 10

// SetRequest is the body of POST /v1/conduits: open or cut the conduit
// between two zones' networks.
type SetRequest struct {
	From string `json:"from"` // CIDR
	To   string `json:"to"`   // CIDR
	Open *bool  `json:"open"`
}

// Handler serves the router's management API behind the bearer token whose
// hash is tok:
//
//	GET  /v1/health    {"ok":true,"conduits":[{"from","to","ports","open"}]}
//	POST /v1/conduits  {"from":CIDR,"to":CIDR,"open":bool}: open or cut one; answers as health
//	GET  /v1/rules     the rule set in force, in nft syntax
func Handler(r *Router, tok token.Hash) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, stateOf(r.Conduits()))
	})
	mux.HandleFunc("GET /v1/rules", func(w http.ResponseWriter, _ *http.Request) {
		rules := r.Rules()
		out := make([]string, len(rules))
		for i, rule := range rules {
			out[i] = rule.String()
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"table": "inet " + Table, "rules": out})
	})
	mux.HandleFunc("POST /v1/conduits", func(w http.ResponseWriter, req *http.Request) {
		var body SetRequest
		if !httpapi.DecodeBody(w, req, &body, maxBody) {
			return
		}
		from, err1 := parsePrefix(body.From)
		to, err2 := parsePrefix(body.To)
		if err := errors.Join(err1, err2); err != nil || body.Open == nil {
			msg := `from and to must be networks (CIDR) and open a boolean`
			if err != nil {
				msg += ": " + err.Error()
			}
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_conduit", msg)
			return
		}
		cs, err := r.Set(from, to, *body.Open)
		switch {
		case errors.Is(err, ErrUnknownConduit):
			httpapi.WriteError(w, http.StatusNotFound, "unknown_conduit", err.Error())
			return
		case err != nil:
			httpapi.WriteError(w, http.StatusInternalServerError, "apply_failed", err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, stateOf(cs))
	})
	return httpapi.Auth("icsrange-router", tok, mux)
}

// Client is the engine's side of a router's management API.
type Client struct{ c httpapi.Client }

// NewClient returns a client for the router at addr (host:port); hc may
// be shared between clients.
func NewClient(addr, tok string, hc *http.Client) *Client {
	return &Client{c: httpapi.Client{Addr: addr, Token: tok, HTTP: hc}}
}

// Health asks the router for its conduits' state.
func (c *Client) Health(ctx context.Context) (State, error) {
	var s State
	if err := c.c.Do(ctx, http.MethodGet, "/v1/health", nil, &s); err != nil {
		return s, err
	}
	if !s.OK {
		return s, errors.New("health: not ok")
	}
	return s, nil
}

// Set opens or cuts the conduit between two networks (CIDRs).
func (c *Client) Set(ctx context.Context, from, to string, open bool) (State, error) {
	var s State
	err := c.c.Do(ctx, http.MethodPost, "/v1/conduits", SetRequest{From: from, To: to, Open: &open}, &s)
	return s, err
}
