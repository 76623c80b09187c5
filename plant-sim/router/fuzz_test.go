package router_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// FuzzConduitFlag: whatever the --conduit text, ParseConduit returns a
// conduit that prints back to a text it parses again to the same conduit,
// or an error; never a panic.
func FuzzConduitFlag(f *testing.F) {
	for _, s := range []string{"10.128.1.0/24>10.128.2.0/24:502", "10.128.2.0/24>10.128.1.0/24:any",
		"10.128.1.0/24>10.128.2.0/24:502,3389,502", "a>b:1", ">:", "10.0.0.0/8>10.1.0.0/16:0", "10.128.1.0/24>10.128.2.0/24:65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := router.ParseConduit(s)
		if err != nil {
			return
		}
		again, err := router.ParseConduit(c.String())
		if err != nil || again.String() != c.String() {
			t.Fatalf("%q parsed to %q, which reparses to %q, %v", s, c.String(), again.String(), err)
		}
	})
}

// FuzzConduitsAPI: any body to POST /v1/conduits gets a JSON answer with a
// status the API documents, and the rule set stays renderable.
func FuzzConduitsAPI(f *testing.F) {
	for _, s := range []string{`{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":false}`,
		`{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":true}`, `{"from":"10.9.9.0/24","to":"10.128.2.0/24","open":true}`,
		`{"from":1}`, `{}`, `[]`, `{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":false} {}`, strings.Repeat("x", 100)} {
		f.Add(s)
	}
	c, err := router.ParseConduit("10.128.1.0/24>10.128.2.0/24:502")
	if err != nil {
		f.Fatal(err)
	}
	r, err := router.New([]router.Conduit{c}, router.Options{}, &fakeNFT{})
	if err != nil {
		f.Fatal(err)
	}
	if err := r.Start(); err != nil {
		f.Fatal(err)
	}
	h := router.Handler(r, token.HashOf(tok))
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/conduits", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q for %q", ct, body)
		}
		_ = router.Render(r.Conduits(), router.Options{})
	})
}
