package plantsim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// The engine lease over the management API: never held at first; an
// advance or a renewal holds it, with an age on the PLC's clock and the
// exercise time reached; a release lets go until the next renewal; only
// the token's holder may ask.
func TestMgmtLease(t *testing.T) {
	plc, err := plantsim.New(plantsim.Config{Model: "water-tank"})
	if err != nil {
		t.Fatal(err)
	}
	const tok = "lease-token-0123456789"
	srv := httptest.NewServer(plantsim.MgmtHandler(plc, token.HashOf(tok)))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	mc := plantsim.NewMgmtClient(strings.TrimPrefix(srv.URL, "http://"), tok)

	s, err := mc.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.AgoMS != -1 || s.HeldWithin(time.Hour) {
		t.Fatalf("a PLC no engine drove yet: %+v, want never held", s)
	}
	if err := mc.Advance(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s, err = mc.Lease(ctx); err != nil || !s.HeldWithin(time.Minute) || s.ClockMS != 1500 || s.Released {
		t.Fatalf("after an advance to 1.5 s: %+v %v, want held at clock 1500", s, err)
	}
	if err := mc.ReleaseLease(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = mc.Lease(ctx); err != nil || s.HeldWithin(time.Minute) || !s.Released || s.AgoMS < 0 {
		t.Fatalf("after a release: %+v %v, want released with the age of the last renewal", s, err)
	}
	if err := mc.RenewLease(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = mc.Lease(ctx); err != nil || !s.HeldWithin(time.Minute) {
		t.Fatalf("after a renewal: %+v %v, want held", s, err)
	}
	// The age grows on the PLC's clock while nobody renews.
	time.Sleep(30 * time.Millisecond)
	if s, err = mc.Lease(ctx); err != nil || s.AgoMS < 30 || s.HeldWithin(30*time.Millisecond) {
		t.Fatalf("30 ms after the renewal: %+v %v, want an age of at least 30 ms", s, err)
	}

	for _, c := range []struct {
		tok  string
		want int
	}{{"", http.StatusUnauthorized}, {"wrong-token-0123456789", http.StatusForbidden}} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			req, _ := http.NewRequest(method, srv.URL+"/v1/lease", nil)
			if c.tok != "" {
				req.Header.Set("Authorization", "Bearer "+c.tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s /v1/lease with token %q: %d, want %d", method, c.tok, resp.StatusCode, c.want)
			}
		}
	}
}

// A PLC from before the lease answers 404, which the client reports as
// ErrNoLease.
func TestMgmtLeaseMissing(t *testing.T) {
	const tok = "lease-token-0123456789"
	old := http.NewServeMux()
	old.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(old)
	t.Cleanup(srv.Close)
	mc := plantsim.NewMgmtClient(strings.TrimPrefix(srv.URL, "http://"), tok)
	if _, err := mc.Lease(context.Background()); !errors.Is(err, plantsim.ErrNoLease) {
		t.Fatalf("lease of an older PLC: %v, want ErrNoLease", err)
	}
}
