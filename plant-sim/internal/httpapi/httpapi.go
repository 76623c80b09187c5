// Package httpapi holds what the plant's small management APIs (PLC,
// router, host agent) share: bearer-token checks with engine/token, strict
// size-limited JSON bodies and JSON answers.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/icsrange/icsrange/internal/token"
)

// Auth serves next only to requests with the bearer token whose hash is
// tok: 401 without a token, 403 with a wrong one.
func Auth(realm string, tok token.Hash, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := token.FromHeader(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			WriteError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
			return
		}
		if !tok.Matches(t) {
			WriteError(w, http.StatusForbidden, "forbidden", "wrong token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DecodeBody reads one strict JSON value (no unknown fields, nothing after
// it) within limit bytes, answering the error itself when it fails.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", limit))
			return false
		}
		WriteError(w, http.StatusBadRequest, "bad_json", "decode body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", limit))
			return false
		}
		WriteError(w, http.StatusBadRequest, "bad_json", "body holds more than one JSON value")
		return false
	}
	return true
}

// WriteJSON answers v as indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError answers {"error":{"code","message"}}, as the engine's API does.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": strings.TrimSpace(msg)}})
}

// Client calls one of these APIs with its bearer token.
type Client struct {
	Addr  string // host:port
	Token string
	HTTP  *http.Client
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 1 << 20

// Do sends in (if not nil) as JSON and decodes a 2xx answer into out (if
// not nil); any other status is an error with the answer's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out)
}
