// Package scoreboard serves an exercise over HTTP and WebSocket: the public
// scoreboard for a projector, each team's console, the instructor console,
// and the JSON API the terminal UI shares.
package scoreboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/internal/buildinfo"
	"github.com/icsrange/icsrange/internal/token"
)

//go:embed web
var webFS embed.FS

// Limits on what clients send.
const (
	MaxBodyBytes = 16 << 10 // an HTTP command body
	MaxWSMessage = 4 << 10  // a WebSocket message from a client
	// DefaultPublicPerAddr is how many WebSocket connections without a
	// token one address may hold: a room's projectors and a few curious
	// laptops behind one NAT, not a flood.
	DefaultPublicPerAddr = 20
)

// Options configure a Server.
type Options struct {
	// Origins allowed to open WebSockets besides the server's own host,
	// e.g. "https://scoreboard.example.org".
	Origins []string
	// AnswerRate and AnswerBurst limit answers per team (default 10 a
	// minute, bursts of 5), against brute-forcing questions.
	AnswerRate  rate.Limit
	AnswerBurst int
	// ViewInterval is how often views are pushed without events (default 1 s).
	ViewInterval time.Duration
	// ClientBuffer is how many messages may wait for a slow client before
	// it is dropped (default 256).
	ClientBuffer int
	// WriteWait is how long one write to a WebSocket client may take; a
	// client that doesn't take its messages in that time is dropped
	// (default 10 s).
	WriteWait time.Duration
	// PublicPerAddr bounds the WebSocket connections one source address may
	// hold without a token: public viewers, and browsers until their hello
	// authenticates them (default DefaultPublicPerAddr; negative: no
	// bound). The excess is refused at the upgrade with 429.
	PublicPerAddr int
	Logger        *slog.Logger
	// Report, when set, renders the after-action report for download.
	Report func(ctx context.Context, format string, w io.Writer) (contentType string, err error)
	// Forward bounds PLC forwarding (GET /forward): tunnels and bytes per
	// team, idle timeout, and whether it starts switched off.
	Forward ForwardOptions
}

// Server serves one exercise.
type Server struct {
	x    *engine.Exercise
	opts Options
	hub  *hub
	mux  *http.ServeMux
	log  *slog.Logger

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	anon      *perAddr      // anonymous WebSocket connections by source address
	snapshots chan struct{} // snapshots being built (bounded)

	fwd *forwarder
}

// New returns a server for x. Start must run for live updates.
func New(x *engine.Exercise, opts Options) *Server {
	if opts.AnswerRate == 0 {
		opts.AnswerRate = rate.Every(6 * time.Second)
	}
	if opts.AnswerBurst == 0 {
		opts.AnswerBurst = 5
	}
	if opts.ViewInterval == 0 {
		opts.ViewInterval = time.Second
	}
	if opts.ClientBuffer == 0 {
		opts.ClientBuffer = 256
	}
	if opts.WriteWait == 0 {
		opts.WriteWait = writeWait
	}
	if opts.PublicPerAddr == 0 {
		opts.PublicPerAddr = DefaultPublicPerAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{x: x, opts: opts, log: opts.Logger, limiters: map[string]*rate.Limiter{}, fwd: newForwarder(opts.Forward),
		anon: &perAddr{max: opts.PublicPerAddr, n: map[string]int{}}, snapshots: make(chan struct{}, maxSnapshots)}
	s.hub = newHub(s)
	s.routes()
	return s
}

// Start runs the hub until ctx ends.
func (s *Server) Start(ctx context.Context) { s.hub.run(ctx) }

// Handler is the HTTP handler.
func (s *Server) Handler() http.Handler { return jsonBodies(s.mux) }

// jsonBodies refuses, before any handler reads it, a request body that is
// not JSON: every endpoint that takes a body takes application/json (with
// at most charset=utf-8), so a form or text/plain — what a page elsewhere
// can send without a CORS preflight — never reaches a command.
func jsonBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && !isJSON(r.Header.Get("Content-Type")) {
			writeError(w, http.StatusUnsupportedMediaType, "bad_content_type", "a request body must be Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(static, name)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(b)
		}
	}
	m.HandleFunc("GET /{$}", page("index.html"))
	m.HandleFunc("GET /team", page("team.html"))
	m.HandleFunc("GET /instructor", page("instructor.html"))
	m.Handle("GET /static/", http.StripPrefix("/static/", files))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, phase := s.x.Clock()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "phase": phase, "forwarding": s.fwd.enabled()})
	})

	m.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, buildinfo.Get()) })
	m.HandleFunc("GET /api/scoreboard", s.getScoreboard)
	m.HandleFunc("GET /api/state", s.auth(anyRole, s.getState))
	m.HandleFunc("GET /api/events", s.auth(anyRole, s.getEvents))
	m.HandleFunc("POST /api/answers", s.auth(teamOnly, s.postAnswer))
	m.HandleFunc("POST /api/actions", s.auth(teamOnly, s.postAction))
	m.HandleFunc("POST /api/hints", s.auth(anyRole, s.postHint))
	m.HandleFunc("POST /api/control/{op}", s.auth(instructorOnly, s.postControl))
	m.HandleFunc("POST /api/injects/{id}/fire", s.auth(instructorOnly, s.postFire))
	m.HandleFunc("POST /api/adjust", s.auth(instructorOnly, s.postAdjust))
	m.HandleFunc("POST /api/broadcast", s.auth(instructorOnly, s.postBroadcast))
	m.HandleFunc("GET /api/report", s.auth(instructorOnly, s.getReport))
	m.HandleFunc("GET /api/traffic", s.auth(anyRole, s.getTraffic))
	m.HandleFunc("GET /api/audit", s.auth(anyRole, s.getAudit))
	m.HandleFunc("GET /api/pcap", s.auth(anyRole, s.getPcap))
	m.HandleFunc("GET /ws", s.serveWS)
	m.HandleFunc("GET /forward", s.auth(teamOnly, s.serveForward))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
}

// who is an authenticated caller.
type who struct {
	role engine.Role
	team string
}

func (c who) scope() engine.Scope {
	switch c.role {
	case engine.RoleInstructor:
		return engine.Instructor
	case engine.RoleTeam:
		return engine.TeamScope(c.team)
	}
	return engine.Public
}

type access int

const (
	anyRole access = iota
	teamOnly
	instructorOnly
)

// auth checks the bearer token: none → 401, the wrong kind → 403.
func (s *Server) auth(need access, h func(http.ResponseWriter, *http.Request, who)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := token.FromHeader(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="icsrange"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this needs a bearer token (Authorization: Bearer TOKEN)")
			return
		}
		role, team := s.x.Who(tok)
		switch {
		case role == engine.RoleNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="icsrange", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "unknown token")
			return
		case need == teamOnly && role != engine.RoleTeam:
			writeError(w, http.StatusForbidden, "forbidden", "this needs a team token")
			return
		case need == instructorOnly && role != engine.RoleInstructor:
			writeError(w, http.StatusForbidden, "forbidden", "this needs the instructor token")
			return
		}
		h(w, r, who{role, team})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiError is the API's error body: {"error": {"code": ..., "message": ...}}.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg}})
}

// statusOf maps domain errors to HTTP statuses in one place.
func statusOf(err error) (int, apiError) {
	var ee *engine.Error
	if errors.As(err, &ee) {
		switch ee.Code {
		case engine.CodeNotFound:
			return http.StatusNotFound, apiError{ee.Code, ee.Msg}
		case engine.CodeInvalid:
			return http.StatusBadRequest, apiError{ee.Code, ee.Msg}
		case engine.CodeConflict, engine.CodeLimit:
			return http.StatusConflict, apiError{ee.Code, ee.Msg}
		}
	}
	var re *rateError
	if errors.As(err, &re) {
		return http.StatusTooManyRequests, apiError{"rate_limited", re.Error()}
	}
	return http.StatusInternalServerError, apiError{"internal", "internal error"}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status, ae := statusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("api", "err", err)
	}
	writeJSON(w, status, map[string]apiError{"error": ae})
}

// decode reads a JSON body strictly and within the size limit (its
// Content-Type was checked on the way in, by jsonBodies).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", MaxBodyBytes))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_json", "decode body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_json", "body holds more than one JSON value")
		return false
	}
	return true
}

type rateError struct{ team string }

func (e *rateError) Error() string {
	return "too many answers from team " + e.team + "; wait a few seconds"
}

// allowAnswer applies the per-team answer rate limit.
func (s *Server) allowAnswer(team string) error {
	s.limMu.Lock()
	l, ok := s.limiters[team]
	if !ok {
		l = rate.NewLimiter(s.opts.AnswerRate, s.opts.AnswerBurst)
		s.limiters[team] = l
	}
	s.limMu.Unlock()
	if !l.Allow() {
		return &rateError{team}
	}
	return nil
}

// checkOrigin lets non-browser clients (no Origin) and pages served by this
// server connect, plus configured origins: a page elsewhere can't ride a
// trainee's browser into the exercise.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.opts.Origins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// ListenAndServe serves until ctx ends, with TLS when cert and key are set.
func (s *Server) ListenAndServe(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		s.hub.closeAll()
		return nil
	}
}
