// Package hostagent is the agent in a team plant's host containers
// (attacker, workstation, HMI): it idles, and on the engine's request plays
// attacks from its container over the plant's real networks.
package hostagent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/internal/httpapi"
)

// AttackRequest is the body of POST /v1/attack.
type AttackRequest struct {
	Kind    string   `json:"kind"`             // write, coil, scan, flood
	Targets []string `json:"targets"`          // IP:PORT (a bare IP means port 502)
	Unit    *int     `json:"unit,omitempty"`   // Modbus unit id; default 1
	Addr    int      `json:"addr,omitempty"`   // 0-based holding register (write) or coil (coil)
	Value   int      `json:"value,omitempty"`  // raw uint16 (write); 0 or 1 (coil)
	ForMS   int64    `json:"for_ms,omitempty"` // flood duration; default 60000
	Slots   int      `json:"slots,omitempty"`  // flood connections per target; default 64
}

// RequestOf is the request that plays s.
func RequestOf(s attack.Spec) AttackRequest {
	unit := int(s.Unit)
	return AttackRequest{Kind: string(s.Kind), Targets: s.Targets, Unit: &unit, Addr: int(s.Addr), Value: int(s.Value),
		ForMS: s.For.Milliseconds(), Slots: s.Slots}
}

// Spec checks the request and turns it into an attack.
func (q AttackRequest) Spec() (attack.Spec, error) {
	s := attack.Spec{Kind: attack.Kind(q.Kind), Targets: q.Targets, Unit: 1, Slots: q.Slots,
		For: time.Duration(q.ForMS) * time.Millisecond}
	if q.Unit != nil {
		if *q.Unit < 0 || *q.Unit > 255 {
			return s, fmt.Errorf("unit %d is outside 0..255", *q.Unit)
		}
		s.Unit = byte(*q.Unit)
	}
	if q.Addr < 0 || q.Addr > 0xFFFF {
		return s, fmt.Errorf("addr %d is outside 0..65535", q.Addr)
	}
	if q.Value < 0 || q.Value > 0xFFFF {
		return s, fmt.Errorf("value %d is outside 0..65535", q.Value)
	}
	if q.ForMS < 0 || q.ForMS > attack.MaxFor.Milliseconds() {
		return s, fmt.Errorf("for_ms %d is outside 0..%d", q.ForMS, attack.MaxFor.Milliseconds())
	}
	s.Addr, s.Value = uint16(q.Addr), uint16(q.Value)
	return s, s.Normalize()
}

// Health is the answer to GET /v1/health.
type Health struct {
	OK      bool   `json:"ok"`
	Host    string `json:"host"`
	Attacks int    `json:"attacks"` // floods running
}

// MaxFloods bounds the floods an agent runs at once.
const MaxFloods = 32

const maxBody = 16 << 10

// Handler serves the agent's API behind the bearer token whose hash is tok:
//
//	GET    /v1/health   {"ok":true,"host":ID,"attacks":N}
//	POST   /v1/attack   AttackRequest → {"outcome":"ok"|"blocked","detail":"..."}
//	DELETE /v1/attacks  stop every flood → {"ok":true,"stopped":N}
//
// A request that makes no sense is 422; an attack that connected but
// failed (a Modbus exception to a write, a connection closed mid-request)
// is 502 with code attack_failed.
func Handler(id string, r *attack.Runner, tok token.Hash) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, Health{OK: true, Host: id, Attacks: r.Running()})
	})
	mux.HandleFunc("POST /v1/attack", func(w http.ResponseWriter, req *http.Request) {
		var q AttackRequest
		if !httpapi.DecodeBody(w, req, &q, maxBody) {
			return
		}
		spec, err := q.Spec()
		if err != nil {
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_attack", err.Error())
			return
		}
		if spec.Kind == attack.Flood && r.Running() >= MaxFloods {
			httpapi.WriteError(w, http.StatusTooManyRequests, "too_many_floods",
				fmt.Sprintf("%d floods are running; stop some first (DELETE /v1/attacks)", MaxFloods))
			return
		}
		res, err := r.Run(req.Context(), spec)
		if err != nil {
			if errors.Is(err, req.Context().Err()) && req.Context().Err() != nil {
				return // the client went away
			}
			httpapi.WriteError(w, http.StatusBadGateway, "attack_failed", err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("DELETE /v1/attacks", func(w http.ResponseWriter, _ *http.Request) {
		n := r.StopAll()
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "stopped": n})
	})
	return httpapi.Auth("icsrange-host", tok, mux)
}

// Client is the engine's side of a host agent's API.
type Client struct{ c httpapi.Client }

// NewClient returns a client for the agent at addr (host:port); hc may be
// shared between clients.
func NewClient(addr, tok string, hc *http.Client) *Client {
	return &Client{c: httpapi.Client{Addr: addr, Token: tok, HTTP: hc}}
}

// Addr is the agent's address.
func (c *Client) Addr() string { return c.c.Addr }

// Health asks whether the agent is up.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	if err := c.c.Do(ctx, http.MethodGet, "/v1/health", nil, &h); err != nil {
		return h, err
	}
	if !h.OK {
		return h, errors.New("health: not ok")
	}
	return h, nil
}

// Attack has the agent play s from its host.
func (c *Client) Attack(ctx context.Context, s attack.Spec) (attack.Result, error) {
	var res attack.Result
	err := c.c.Do(ctx, http.MethodPost, "/v1/attack", RequestOf(s), &res)
	return res, err
}

// StopAll ends every flood the agent plays.
func (c *Client) StopAll(ctx context.Context) error {
	return c.c.Do(ctx, http.MethodDelete, "/v1/attacks", nil, nil)
}
