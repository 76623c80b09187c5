package plantsim

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/capture"
	"github.com/icsrange/icsrange/plant-sim/internal/httpapi"
)

// Bounds on management request bodies: effects are tiny; a snapshot holds
// at most a minute of replay samples per tag.
const (
	maxMgmtBody = 16 << 10
	maxSnapshot = 4 << 20
)

// MgmtHandler serves a PLC's management API: ground truth, effects and
// health, behind a bearer token. It listens apart from Modbus so trainees,
// who reach the Modbus port, never reach it.
//
//	GET  /v1/health    mode, program, checksum, scan count, uptime, faults
//	GET  /v1/tags      every tag: truth, reported, override
//	GET  /v1/map       the register map
//	POST /v1/effects   apply an Effect
//	GET  /v1/values    Values, compact, for an engine
//	POST /v1/advance   {"to_ms": N}: run the PLC to exercise time N (engine clock), reply Values
//	GET  /v1/snapshot  the PLC's state (gob), for checkpoints
//	PUT  /v1/snapshot  restore a state
//	GET  /v1/capture?after=N   transactions and audit entries after seq N
//	POST /v1/attribute {"remote", "source", "note"}: who a connection really is
//	GET  /v1/packets?after=N&max=M  captured packets after seq N (WithPackets; else 404 no_capture)
//	GET  /v1/lease     how long ago the engine last advanced or renewed (LeaseStatus)
//	POST /v1/lease     renew the engine's lease (an advance renews it too)
//	DELETE /v1/lease   the engine let go
func MgmtHandler(p *PLC, tok token.Hash, opts ...MgmtOption) http.Handler {
	var cfg mgmtConfig
	for _, o := range opts {
		o(&cfg)
	}
	mux := http.NewServeMux()
	lease := newLease()
	lease.serve(mux, p)
	mux.HandleFunc("GET /v1/packets", func(w http.ResponseWriter, r *http.Request) {
		if cfg.packets == nil {
			httpapi.WriteError(w, http.StatusNotFound, "no_capture", "this PLC captures no packets (start it with --capture)")
			return
		}
		q := r.URL.Query()
		var after uint64
		if s := q.Get("after"); s != "" {
			var err error
			if after, err = strconv.ParseUint(s, 10, 64); err != nil {
				httpapi.WriteError(w, http.StatusBadRequest, "bad_after", "after must be a seq")
				return
			}
		}
		max := 0
		if s := q.Get("max"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > capture.MaxPageMax {
				httpapi.WriteError(w, http.StatusBadRequest, "bad_max", fmt.Sprintf("max must be 1..%d", capture.MaxPageMax))
				return
			}
			max = n
		}
		httpapi.WriteJSON(w, http.StatusOK, cfg.packets.Page(after, max))
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, p.Health())
	})
	mux.HandleFunc("GET /v1/tags", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"plc": p.ID(), "model": p.model.Name, "tags": p.Tags()})
	})
	mux.HandleFunc("GET /v1/map", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"model": p.model.Name, "registers": p.model.Map()})
	})
	mux.HandleFunc("GET /v1/values", func(w http.ResponseWriter, r *http.Request) {
		var v Values
		p.Read(&v)
		httpapi.WriteJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("POST /v1/advance", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ToMS int64 `json:"to_ms"`
		}
		if !httpapi.DecodeBody(w, r, &req, maxMgmtBody) {
			return
		}
		if req.ToMS < 0 {
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_time", "to_ms must not be negative")
			return
		}
		p.Advance(time.Duration(req.ToMS) * time.Millisecond)
		lease.renew()
		var v Values
		p.Read(&v)
		httpapi.WriteJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		s, err := p.Save()
		if err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, "snapshot", err.Error())
			return
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(s); err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, "snapshot", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("PUT /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		var s Snapshot
		if err := gob.NewDecoder(http.MaxBytesReader(w, r.Body, maxSnapshot)).Decode(&s); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "bad_snapshot", "decode snapshot: "+err.Error())
			return
		}
		if err := p.Restore(&s); err != nil {
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_snapshot", err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, p.Health())
	})
	mux.HandleFunc("GET /v1/capture", func(w http.ResponseWriter, r *http.Request) {
		after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		if err != nil && r.URL.Query().Get("after") != "" {
			httpapi.WriteError(w, http.StatusBadRequest, "bad_after", "after must be a seq")
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, p.Capture(after))
	})
	mux.HandleFunc("POST /v1/attribute", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Remote string `json:"remote"`
			Source string `json:"source"`
			Note   string `json:"note,omitempty"`
		}
		if !httpapi.DecodeBody(w, r, &req, maxMgmtBody) {
			return
		}
		if req.Remote == "" || req.Source == "" || len(req.Source) > 256 || len(req.Note) > 256 {
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_attribution", "remote and source are required (at most 256 bytes each)")
			return
		}
		p.Attribute(req.Remote, req.Source, req.Note)
		httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /v1/effects", func(w http.ResponseWriter, r *http.Request) {
		var e Effect
		if !httpapi.DecodeBody(w, r, &e, maxMgmtBody) {
			return
		}
		if err := p.Apply(e); err != nil {
			httpapi.WriteError(w, http.StatusUnprocessableEntity, "bad_effect", err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, p.Health())
	})
	return httpapi.Auth("icsrange-plc", tok, mux)
}

// MgmtOption adds an optional part to the management API.
type MgmtOption func(*mgmtConfig)

type mgmtConfig struct {
	packets PacketPager
}

// PacketPager is what GET /v1/packets pages through: a packet capture
// (*capture.Capture), which the PLC itself knows nothing of.
type PacketPager interface {
	Page(after uint64, max int) capture.Page
}

// WithPackets serves the packets a capture recorded at GET /v1/packets.
func WithPackets(src PacketPager) MgmtOption {
	return func(c *mgmtConfig) { c.packets = src }
}

// Health is the management API's health document.
type Health struct {
	PLC       string             `json:"plc"`
	Model     string             `json:"model"`
	Mode      Mode               `json:"mode"`
	Program   string             `json:"program"`
	Checksum  string             `json:"checksum"`
	ScanCount uint64             `json:"scan_count"`
	UptimeS   float64            `json:"uptime_s"`
	ScanMs    int64              `json:"scan_ms"`
	Faults    map[string]float64 `json:"faults"`
}

// Health returns the PLC's health document.
func (p *PLC) Health() Health {
	var v Values
	p.Read(&v)
	return Health{
		PLC: p.ID(), Model: p.model.Name, Mode: v.Mode, Program: v.Program,
		Checksum: fmt.Sprintf("%08X", v.Checksum), ScanCount: v.ScanCount, UptimeS: v.Uptime.Seconds(),
		ScanMs: p.cfg.Scan.Milliseconds(), Faults: v.Faults,
	}
}

// TagValue is one tag in the management API.
type TagValue struct {
	Name     string  `json:"name"`
	Table    string  `json:"table"`
	Class    string  `json:"class"`
	Unit     string  `json:"unit,omitempty"`
	Truth    float64 `json:"truth"`
	Reported float64 `json:"reported"`
	Override string  `json:"override,omitempty"`
}

// Tags returns every tag's truth and reported value.
func (p *PLC) Tags() []TagValue {
	var v Values
	p.Read(&v)
	out := make([]TagValue, len(p.model.Tags))
	for i, t := range p.model.Tags {
		out[i] = TagValue{Name: t.Name, Table: t.Table.Prefix(), Class: t.Class.String(), Unit: t.Unit,
			Truth: v.Truth[i], Reported: v.Reported[i], Override: v.Override[i]}
	}
	return out
}
