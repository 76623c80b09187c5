package plantsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
)

// GET /v1/packets pages through a capture behind the bearer token; a PLC
// without one answers 404, which the client reports as capture.ErrOff.
func TestMgmtPackets(t *testing.T) {
	plc, _ := startPLC(t, plantsim.ServerConfig{})
	const tok = "packets-token-0123456789"
	ring := capture.NewRing(capture.Config{MaxPackets: 10})
	at := time.Date(2025, 3, 4, 9, 0, 0, 123456789, time.UTC)
	for i := range 12 {
		ring.Add(at.Add(time.Duration(i)*time.Millisecond), []byte{0xAB, byte(i)}, 2, i == 11)
	}
	srv := httptest.NewServer(plantsim.MgmtHandler(plc, token.HashOf(tok), plantsim.WithPackets(ring)))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	mc := plantsim.NewMgmtClient(addr, tok)

	p, err := mc.Packets(ctx, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	// The ring holds 3..12: 1 and 2 were overwritten before anyone read them.
	if len(p.Packets) != 4 || p.Packets[0].Seq != 3 || p.Dropped != 2 || p.Next != 6 || !p.More || p.Newest != 12 {
		t.Fatalf("first page: %+v", p)
	}
	if !p.Packets[0].Time.Equal(at.Add(2*time.Millisecond)) || p.Packets[0].Data[1] != 2 || p.Packets[0].Len != 2 {
		t.Fatalf("packet 3: %+v", p.Packets[0])
	}
	if p, err = mc.Packets(ctx, p.Next, 0); err != nil || len(p.Packets) != 6 || p.More || !p.Packets[5].CsumPartial {
		t.Fatalf("second page: %+v %v", p, err)
	}

	// On the wire: RFC 3339 times with nanoseconds, base64 frames.
	get := func(path, tok string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}
	resp, body := get("/v1/packets?after=11", tok)
	pk := body["packets"].([]any)[0].(map[string]any)
	if resp.StatusCode != 200 || pk["time"] != "2025-03-04T09:00:00.134456789Z" || pk["data"] != "qws=" || body["link_type"] != 1.0 {
		t.Fatalf("GET /v1/packets?after=11: %d %v", resp.StatusCode, body)
	}
	for _, c := range []struct {
		path, tok string
		status    int
	}{
		{"/v1/packets", "", http.StatusUnauthorized},
		{"/v1/packets", "wrong-token-0123456789", http.StatusForbidden},
		{"/v1/packets?max=0", tok, http.StatusBadRequest},
		{"/v1/packets?max=5001", tok, http.StatusBadRequest},
		{"/v1/packets?after=x", tok, http.StatusBadRequest},
	} {
		if resp, body := get(c.path, c.tok); resp.StatusCode != c.status {
			t.Errorf("GET %s: %d %v, want %d", c.path, resp.StatusCode, body, c.status)
		}
	}

	off := httptest.NewServer(plantsim.MgmtHandler(plc, token.HashOf(tok)))
	t.Cleanup(off.Close)
	if _, err := plantsim.NewMgmtClient(strings.TrimPrefix(off.URL, "http://"), tok).Packets(ctx, 0, 0); !errors.Is(err, capture.ErrOff) {
		t.Fatalf("a PLC without a capture: %v, want capture.ErrOff", err)
	}
}
