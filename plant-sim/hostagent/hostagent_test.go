package hostagent_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/internal/httpapi/apitest"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

const tok = "host-agent-token-0123456789"

func startAgent(t *testing.T) (*httptest.Server, *attack.Runner) {
	t.Helper()
	r := attack.NewRunner(t.Context())
	srv := httptest.NewServer(hostagent.Handler("attacker", r, token.HashOf(tok)))
	t.Cleanup(func() {
		r.StopAll()
		r.Wait()
		srv.Close()
	})
	return srv, r
}

func startPLC(t *testing.T) (*plantsim.PLC, string) {
	t.Helper()
	plc := plctest.WaterTank(t)
	_, addr := plctest.Serve(t, plc, plantsim.ServerConfig{MaxClients: 4})
	return plc, addr
}

type apiError = apitest.Error

func TestHostAgentAuth(t *testing.T) {
	srv, _ := startAgent(t)
	var e apiError
	if code := apitest.Do(t, srv, "GET", "/v1/health", "", "", &e); code != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("no token: %d %+v", code, e)
	}
	if code := apitest.Do(t, srv, "POST", "/v1/attack", "wrong-token-wrong-token", `{"kind":"scan","targets":["127.0.0.1:1"]}`, &e); code != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("wrong token: %d %+v", code, e)
	}
	if code := apitest.Do(t, srv, "DELETE", "/v1/attacks", "", "", nil); code != 401 {
		t.Fatalf("delete without token: %d", code)
	}
	var h hostagent.Health
	if code := apitest.Do(t, srv, "GET", "/v1/health", tok, "", &h); code != 200 || !h.OK || h.Host != "attacker" || h.Attacks != 0 {
		t.Fatalf("health: %d %+v", code, h)
	}
}

func TestHostAgentBadRequests(t *testing.T) {
	srv, _ := startAgent(t)
	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"kind":"write","targets":["127.0.0.1:502"]`, "bad_json", 400},
		{`{"kind":"write","targets":["127.0.0.1:502"],"extra":1}`, "bad_json", 400},
		{`{"kind":"write","targets":["127.0.0.1:502"]} {}`, "bad_json", 400},
		{`{"kind":"write","targets":"127.0.0.1:502"}`, "bad_json", 400},
		{`{"kind":"write","targets":["127.0.0.1:502"],"pad":"` + strings.Repeat("x", 20<<10) + `"}`, "too_large", 413},
		{`{"kind":"nuke","targets":["127.0.0.1:502"]}`, "bad_attack", 422},
		{`{"kind":"write","targets":[]}`, "bad_attack", 422},
		{`{"kind":"write","targets":["127.0.0.1:502"],"value":70000}`, "bad_attack", 422},
		{`{"kind":"write","targets":["127.0.0.1:502"],"addr":-1}`, "bad_attack", 422},
		{`{"kind":"write","targets":["127.0.0.1:502"],"unit":256}`, "bad_attack", 422},
		{`{"kind":"coil","targets":["127.0.0.1:502"],"value":2}`, "bad_attack", 422},
		{`{"kind":"flood","targets":["127.0.0.1:502"],"slots":100000}`, "bad_attack", 422},
		{`{"kind":"write","targets":["127.0.0.1:0"]}`, "bad_attack", 422},
	} {
		var e apiError
		if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, c.body, &e); code != c.status || e.Error.Code != c.code {
			b := c.body
			if len(b) > 80 {
				b = b[:80]
			}
			t.Errorf("%s: %d %+v, want %d %s", b, code, e, c.status, c.code)
		}
	}
	if code := apitest.Do(t, srv, "GET", "/v1/attack", tok, "", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/attack: %d", code)
	}
}

func TestHostAgentAttacks(t *testing.T) {
	srv, r := startAgent(t)
	plc, addr := startPLC(t)
	var res attack.Result
	if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, `{"kind":"write","targets":["`+addr+`"],"unit":1,"addr":0,"value":29491}`, &res); code != 200 ||
		res.Outcome != "ok" || res.Detail != "wrote 29491 to "+addr+" unit 1 register 0" {
		t.Fatalf("write: %d %+v", code, res)
	}
	plc.Advance(plc.Now() + plc.ScanPeriod())
	for _, v := range plc.Tags() {
		if v.Name == "level_sp" && (v.Truth < 4.49 || v.Truth > 4.51) {
			t.Fatalf("level_sp %v", v.Truth)
		}
	}
	// A write the PLC refuses is a failed attack.
	var e apiError
	if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, `{"kind":"write","targets":["`+addr+`"],"addr":9999,"value":1}`, &e); code != 502 || e.Error.Code != "attack_failed" {
		t.Fatalf("write to a missing register: %d %+v", code, e)
	}
	// Nothing listening: blocked.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, `{"kind":"scan","targets":["`+closed+`"]}`, &res); code != 200 || res.Outcome != "blocked" {
		t.Fatalf("scan of a closed port: %d %+v", code, res)
	}
	if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, `{"kind":"scan","targets":["`+addr+`"]}`, &res); code != 200 || res.Outcome != "ok" || !strings.Contains(res.Detail, "scan found") {
		t.Fatalf("scan: %d %+v", code, res)
	}

	// A flood answers at once and runs on until stopped.
	start := time.Now()
	if code := apitest.Do(t, srv, "POST", "/v1/attack", tok, `{"kind":"flood","targets":["`+addr+`"],"for_ms":60000,"slots":8}`, &res); code != 200 ||
		res.Outcome != "ok" || res.Detail != "flooding "+addr+" with 8 connections" {
		t.Fatalf("flood: %d %+v", code, res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the flood request took %v", d)
	}
	var h hostagent.Health
	if apitest.Do(t, srv, "GET", "/v1/health", tok, "", &h); h.Attacks != 1 {
		t.Fatalf("health during the flood: %+v", h)
	}
	var stopped struct {
		OK      bool `json:"ok"`
		Stopped int  `json:"stopped"`
	}
	if code := apitest.Do(t, srv, "DELETE", "/v1/attacks", tok, "", &stopped); code != 200 || !stopped.OK || stopped.Stopped != 1 {
		t.Fatalf("stop: %d %+v", code, stopped)
	}
	r.Wait()
	if apitest.Do(t, srv, "GET", "/v1/health", tok, "", &h); h.Attacks != 0 {
		t.Fatalf("health after the stop: %+v", h)
	}
}
