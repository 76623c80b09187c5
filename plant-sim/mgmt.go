package plantsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/icsrange/icsrange/engine/token"
)

// maxMgmtBody bounds a management request body; effects are tiny.
const maxMgmtBody = 16 << 10

// MgmtHandler serves a PLC's management API: ground truth, effects and
// health, behind a bearer token. It listens apart from Modbus so trainees,
// who reach the Modbus port, never reach it.
//
//	GET  /v1/health   mode, program, checksum, scan count, uptime, faults
//	GET  /v1/tags     every tag: truth, reported, override
//	GET  /v1/map      the register map
//	POST /v1/effects  apply an Effect
func MgmtHandler(p *PLC, tok token.Hash) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.Health())
	})
	mux.HandleFunc("GET /v1/tags", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"plc": p.ID(), "model": p.model.Name, "tags": p.Tags()})
	})
	mux.HandleFunc("GET /v1/map", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"model": p.model.Name, "registers": p.model.Map()})
	})
	mux.HandleFunc("POST /v1/effects", func(w http.ResponseWriter, r *http.Request) {
		var e Effect
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMgmtBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", maxMgmtBody))
				return
			}
			writeError(w, http.StatusBadRequest, "bad_json", "decode effect: "+err.Error())
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "bad_json", "body holds more than one JSON value")
			return
		}
		if err := p.Apply(e); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "bad_effect", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, p.Health())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := token.FromHeader(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="icsrange-plc"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
			return
		}
		if !tok.Matches(t) {
			writeError(w, http.StatusForbidden, "forbidden", "wrong token")
			return
		}
		mux.ServeHTTP(w, r)
	})
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": strings.TrimSpace(msg)}})
}
