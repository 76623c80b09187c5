// Package apitest calls the plant containers' small HTTP APIs (router,
// host agent) from their tests.
package apitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Error is the API's error answer.
type Error struct {
	Error struct{ Code, Message string } `json:"error"`
}

// Do sends body to srv with the bearer token auth (none when empty),
// decodes the JSON answer into out when out is not nil, and returns the
// status.
func Do(t testing.TB, srv *httptest.Server, method, path, auth, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}
