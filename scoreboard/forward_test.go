package scoreboard

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// scForward gives every team the same two PLCs (same ids, like any real
// scenario): a tunnel must reach the token's team's, never another's.
const scForward = `
id: forward-test
version: 1
title: {en: forward test, ja: フォワードテスト}
description: {en: a test, ja: テスト}
duration: 30m
teams: {min: 1, max: 8}
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
    - {id: basin, model: water-tank, zone: control, unit_id: 2, noise: 0, params: {level0_m: 1.5, level_sp_m: 1.5}}
  hosts:
    - {id: hmi, role: hmi, zone: control}
objectives:
  - {id: safe, title: Safe, points: 30, fail_when: "plant.tank.level > 3.3", penalty: 10}
`

// fwdFixture is an exercise of scForward for teams a and b, served on
// 127.0.0.1 with the given forwarding options.
type fwdFixture struct {
	t    *testing.T
	x    *engine.Exercise
	s    *Server
	host string
	tok  engine.Tokens
}

func newFwdFixture(t *testing.T, fo ForwardOptions) *fwdFixture {
	t.Helper()
	sc, err := scenario.Load("forward-test.yaml", []byte(scForward))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(scForward), ScenarioPath: "forward-test.yaml",
		Teams: []string{"a", "b"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 3})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := x.Start(ctx, "test"); err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	s := New(x, Options{Forward: fo})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Start(ctx) })
	wg.Go(func() {
		if err := s.ListenAndServe(ctx, ln, "", ""); err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		x.Close()
	})
	return &fwdFixture{t: t, x: x, s: s, host: ln.Addr().String(), tok: x.Tokens()}
}

// dial opens /forward?query with tok (none if ""); on a refused upgrade it
// returns the status and the error body.
func (f *fwdFixture) dial(query, tok string) (*websocket.Conn, int, []byte) {
	f.t.Helper()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, res, err := d.Dial("ws://"+f.host+"/forward?"+query, h)
	if err != nil {
		if res == nil {
			f.t.Fatalf("dial /forward?%s: %v", query, err)
		}
		b, _ := io.ReadAll(res.Body)
		return nil, res.StatusCode, b
	}
	f.t.Cleanup(func() { c.Close() })
	return c, http.StatusSwitchingProtocols, nil
}

// tunnel opens a tunnel to plc for team and wraps it as a Modbus client.
func (f *fwdFixture) tunnel(team, plc string) (*websocket.Conn, *modbus.Client) {
	f.t.Helper()
	c, status, body := f.dial("plc="+url.QueryEscape(plc), f.tok.Teams[team])
	if c == nil {
		f.t.Fatalf("tunnel %s/%s: status %d: %s", team, plc, status, body)
	}
	return c, modbus.NewClient(&wsStream{c: c})
}

// direct is a Modbus client straight to a team's PLC, bypassing the tunnel.
func (f *fwdFixture) direct(team, plc string) *modbus.Client {
	f.t.Helper()
	for _, e := range f.x.Endpoints() {
		if e.Team == team && e.PLC == plc {
			c, err := modbus.Dial(context.Background(), e.Modbus)
			if err != nil {
				f.t.Fatal(err)
			}
			f.t.Cleanup(func() { c.Close() })
			return c
		}
	}
	f.t.Fatalf("no endpoint %s/%s", team, plc)
	return nil
}

// post sends an instructor (or other) POST and decodes the JSON reply.
func (f *fwdFixture) post(path, tok string) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+f.host+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

func (f *fwdFixture) healthForwarding() bool {
	f.t.Helper()
	res, err := http.Get("http://" + f.host + "/healthz")
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct {
		Forwarding bool `json:"forwarding"`
	}
	json.NewDecoder(res.Body).Decode(&v)
	return v.Forwarding
}

// wsStream is a tunnel as a net.Conn for the Modbus client: binary
// messages in, each write one binary message out.
type wsStream struct {
	c *websocket.Conn
	r io.Reader
}

func (w *wsStream) Read(p []byte) (int, error) {
	for {
		if w.r != nil {
			n, err := w.r.Read(p)
			if errors.Is(err, io.EOF) {
				w.r = nil
				err = nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		typ, r, err := w.c.NextReader()
		if err != nil {
			return 0, err
		}
		if typ == websocket.BinaryMessage {
			w.r = r
		}
	}
}

func (w *wsStream) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsStream) Close() error                       { return w.c.Close() }
func (w *wsStream) LocalAddr() net.Addr                { return w.c.LocalAddr() }
func (w *wsStream) RemoteAddr() net.Addr               { return w.c.RemoteAddr() }
func (w *wsStream) SetReadDeadline(t time.Time) error  { return w.c.SetReadDeadline(t) }
func (w *wsStream) SetWriteDeadline(t time.Time) error { return w.c.SetWriteDeadline(t) }
func (w *wsStream) SetDeadline(t time.Time) error {
	w.c.SetReadDeadline(t)
	return w.c.SetWriteDeadline(t)
}

// closeOf reads until the tunnel closes and returns its close frame.
func closeOf(t *testing.T, c *websocket.Conn, within time.Duration) *websocket.CloseError {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("tunnel ended without a close frame: %v", err)
		}
		return ce
	}
}

func TestForwardAuth(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	a, b, in := f.tok.Teams["a"], f.tok.Teams["b"], f.tok.Instructor
	for _, c := range []struct {
		what, query, tok string
		status           int
		code             string
	}{
		{"anonymous", "plc=tank", "", 401, "unauthorized"},
		{"unknown token", "plc=tank", "nope", 401, "unauthorized"},
		{"instructor", "plc=tank", in, 403, "forbidden"},
		{"no plc", "", a, 400, "invalid"},
		{"no such plc", "plc=nope", a, 404, "not_found"},
		{"another team's path", "plc=b%2Ftank", a, 404, "not_found"},
		{"another team's name", "plc=b", a, 404, "not_found"},
		{"team b, no such plc", "plc=nope", b, 404, "not_found"},
	} {
		c2, status, body := f.dial(c.query, c.tok)
		if c2 != nil {
			t.Fatalf("%s: upgraded, want %d", c.what, c.status)
		}
		if status != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.what, status, c.status, body)
		}
		var e map[string]apiError
		if err := json.Unmarshal(body, &e); err != nil || e["error"].Code != c.code || e["error"].Message == "" {
			t.Fatalf("%s: body %s, want code %s", c.what, body, c.code)
		}
	}
	// Not a WebSocket request.
	req, _ := http.NewRequest("GET", "http://"+f.host+"/forward?plc=tank", nil)
	req.Header.Set("Authorization", "Bearer "+a)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("plain GET: %d, want 400", res.StatusCode)
	}
	// Teams can't switch forwarding.
	if st, _ := f.post("/api/control/forwarding-off", a); st != 403 {
		t.Fatalf("team switching forwarding off: %d, want 403", st)
	}
	if st, _ := f.post("/api/control/forwarding-off", ""); st != 401 {
		t.Fatalf("anonymous switching forwarding off: %d, want 401", st)
	}
	if !f.healthForwarding() {
		t.Fatal("forwarding is off after refused attempts")
	}
	// A message over the limit ends the tunnel with 1009.
	c, _ := f.tunnel("a", "tank")
	c.WriteMessage(websocket.BinaryMessage, make([]byte, MaxForwardMessage+1))
	if ce := closeOf(t, c, 5*time.Second); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized message: close %d %q, want 1009", ce.Code, ce.Text)
	}
}

// Both teams have a PLC "tank": team a's token reaches team a's, whatever
// the request says, and a write through it changes only team a's.
func TestForwardIsolation(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	da, db := f.direct("a", "tank"), f.direct("b", "tank")
	// Make the teams' tanks tell apart.
	if err := db.WriteRegister(1, 0, 11111); err != nil {
		t.Fatal(err)
	}
	// The query's team, if any, is ignored: the tunnel is the token's team's.
	for i, q := range []string{"plc=tank", "plc=tank&team=b"} {
		c, status, body := f.dial(q, f.tok.Teams["a"])
		if c == nil {
			t.Fatalf("%s: status %d: %s", q, status, body)
		}
		mc := modbus.NewClient(&wsStream{c: c})
		want, err := da.ReadInputRegisters(1, 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		got, err := mc.ReadInputRegisters(1, 0, 4)
		if err != nil {
			t.Fatalf("read through the tunnel: %v", err)
		}
		if !equalU16(got, want) {
			t.Fatalf("tunnel read %v, team a's PLC has %v", got, want)
		}
		v := uint16(20000 + i)
		if err := mc.WriteRegister(1, 0, v); err != nil {
			t.Fatalf("write through the tunnel: %v", err)
		}
		ha, _ := da.ReadHoldingRegisters(1, 0, 1)
		hb, _ := db.ReadHoldingRegisters(1, 0, 1)
		if ha[0] != v || hb[0] != 11111 {
			t.Fatalf("after writing %d through team a's tunnel: team a's tank %d, team b's %d (want %d, 11111)", v, ha[0], hb[0], v)
		}
	}
	// And team b's token reaches team b's tank, not the first "tank" found.
	_, mb := f.tunnel("b", "tank")
	if err := mb.WriteRegister(1, 0, 22222); err != nil {
		t.Fatal(err)
	}
	ha, _ := da.ReadHoldingRegisters(1, 0, 1)
	hb, _ := db.ReadHoldingRegisters(1, 0, 1)
	if ha[0] != 20001 || hb[0] != 22222 {
		t.Fatalf("after writing 22222 through team b's tunnel: team a's tank %d, team b's %d (want 20001, 22222)", ha[0], hb[0])
	}
	// The second PLC, with its own unit id, is team a's too.
	_, mc := f.tunnel("a", "basin")
	if err := mc.WriteRegister(2, 0, 12345); err != nil {
		t.Fatal(err)
	}
	ba, _ := f.direct("a", "basin").ReadHoldingRegisters(2, 0, 1)
	bb, _ := f.direct("b", "basin").ReadHoldingRegisters(2, 0, 1)
	if ba[0] != 12345 || bb[0] == 12345 {
		t.Fatalf("basin: team a %d, team b %d", ba[0], bb[0])
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Forwarded sessions show in the team's traffic log as the trainee, noted
// as forwarded, and never in another team's.
func TestForwardTrafficLog(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	_, mc := f.tunnel("a", "tank")
	if _, err := mc.ReadInputRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	if err := mc.WriteRegister(1, 0, 30000); err != nil {
		t.Fatal(err)
	}
	// Team b's own direct traffic, to show its log is read at all.
	if _, err := f.direct("b", "tank").ReadInputRegisters(1, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.x.Step(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rows, err := f.x.Store().Traffic(ctx, store.TrafficFilter{Team: "a", PLC: "tank", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var fwd []store.TrafficRow
	for _, r := range rows {
		if r.Note == "forwarded for a" {
			fwd = append(fwd, r)
		}
	}
	if len(fwd) != 2 {
		t.Fatalf("team a's traffic: %d forwarded rows, want 2: %+v", len(fwd), rows)
	}
	for _, r := range fwd {
		host, port, err := net.SplitHostPort(r.Source)
		if err != nil || host != "127.0.0.1" || port == "" || port == "0" {
			t.Fatalf("forwarded row source %q: want the trainee's address 127.0.0.1:PORT", r.Source)
		}
		if !r.Trainee {
			t.Fatalf("forwarded row not counted as the team's own traffic: %+v", r)
		}
	}
	if fwd[1].Function != 6 || fwd[1].Values != "30000" {
		t.Fatalf("forwarded write row: %+v", fwd[1])
	}
	au, err := f.x.Store().Audit(ctx, "a", "tank", 0, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range au {
		if a.Kind == "connect" && strings.Contains(a.Detail, "(forwarded for a)") {
			found = true
		}
	}
	if !found {
		t.Fatalf("team a's audit trail lacks the forwarded connect: %+v", au)
	}
	rowsB, err := f.x.Store().Traffic(ctx, store.TrafficFilter{Team: "b", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rowsB) == 0 {
		t.Fatal("team b's traffic log is empty: the check below would prove nothing")
	}
	for _, r := range rowsB {
		if strings.Contains(r.Note, "forward") {
			t.Fatalf("team b's traffic holds a forwarded row: %+v", r)
		}
	}
	auB, _ := f.x.Store().Audit(ctx, "b", "", 0, 100, false)
	for _, a := range auB {
		if strings.Contains(a.Detail, "forward") {
			t.Fatalf("team b's audit holds a forwarded entry: %+v", a)
		}
	}
	st := f.s.ForwardStatus()
	if st.Teams["a"].Sessions != 1 || st.Teams["a"].BytesUp == 0 || st.Teams["a"].BytesDown == 0 || st.Teams["b"].Sessions != 0 {
		t.Fatalf("forward status: %+v", st)
	}
}

func TestForwardConnectionLimit(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	var open []*websocket.Conn
	for i := range DefaultForwardConns {
		plc := "tank"
		if i%2 == 1 {
			plc = "basin" // the limit is the team's, across its PLCs
		}
		c, _ := f.tunnel("a", plc)
		open = append(open, c)
	}
	c, status, body := f.dial("plc=tank", f.tok.Teams["a"])
	if c != nil || status != http.StatusTooManyRequests {
		t.Fatalf("tunnel %d: status %d, want 429", DefaultForwardConns+1, status)
	}
	var e map[string]apiError
	if err := json.Unmarshal(body, &e); err != nil || e["error"].Code != "too_many_tunnels" {
		t.Fatalf("429 body %s", body)
	}
	// Another team is not affected.
	if _, mc := f.tunnel("b", "tank"); mc == nil {
		t.Fatal("team b")
	}
	// Closing one frees its slot.
	open[0].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	closeOf(t, open[0], 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, status, _ := f.dial("plc=tank", f.tok.Teams["a"])
		if c != nil {
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a tunnel: status %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A team's tunnels share DefaultForwardRate bytes a second each way: bulk
// transfers take at least what the rate allows (lower bounds only).
func TestForwardBandwidth(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	const rateBps = DefaultForwardRate
	burst := max(rateBps/4, MaxForwardMessage)

	// Up: 256 KiB of FC16 requests to a unit the PLC is not; each gets a
	// small gateway exception back and changes nothing.
	c, _ := f.tunnel("a", "tank")
	frame := func(tx uint16, unit byte, pdu []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, tx)
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(pdu)+1))
		b = append(b, unit)
		return append(b, pdu...)
	}
	fc16 := []byte{16, 0, 0, 0, 123, 246}
	fc16 = append(fc16, make([]byte, 246)...)
	upFrame := len(frame(0, 0x77, fc16))
	nUp := (256 << 10) / upFrame
	upSecs, upDown := bulk(t, c, nUp, func(i int) []byte { return frame(uint16(i), 0x77, fc16) }, 9)
	wantUp := float64(nUp*upFrame-burst) / rateBps
	t.Logf("up: %d bytes in %.2fs (rate alone: ≥ %.2fs); %d bytes back", nUp*upFrame, upSecs, wantUp, upDown)
	if upSecs < 2 {
		t.Fatalf("up: %d bytes took %.2fs, want ≥ 2s at %d B/s", nUp*upFrame, upSecs, rateBps)
	}

	// Down: small reads with twice-as-large answers, 250 KB of them; the
	// requests alone would pass the up limit in ~1.6 s.
	c2, _ := f.tunnel("a", "tank")
	fc3 := []byte{3, 0, 0, 0, 8} // 8 holding registers: 25-byte answers to 12-byte requests
	nDown := 10240
	downSecs, got := bulk(t, c2, nDown, func(i int) []byte { return frame(uint16(i), 1, fc3) }, 25)
	t.Logf("down: %d bytes in %.2fs (rate alone: ≥ %.2fs)", got, downSecs, float64(got-burst)/rateBps)
	if downSecs < 2.5 {
		t.Fatalf("down: %d bytes took %.2fs, want ≥ 2.5s at %d B/s", got, downSecs, rateBps)
	}
}

// bulk writes n frames through a tunnel as fast as it takes them (in
// messages of up to MaxForwardMessage) and reads the n answers of respLen
// bytes each; it returns the seconds taken and the bytes received.
func bulk(t *testing.T, c *websocket.Conn, n int, frame func(i int) []byte, respLen int) (float64, int) {
	t.Helper()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		var msg []byte
		for i := range n {
			fr := frame(i)
			if len(msg)+len(fr) > MaxForwardMessage {
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					errc <- err
					return
				}
				msg = msg[:0]
			}
			msg = append(msg, fr...)
		}
		errc <- c.WriteMessage(websocket.BinaryMessage, msg)
	}()
	want := n * respLen
	got := 0
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for got < want {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("bulk: read after %d of %d bytes: %v", got, want, err)
		}
		got += len(b)
	}
	if err := <-errc; err != nil {
		t.Fatalf("bulk: write: %v", err)
	}
	if got != want {
		t.Fatalf("bulk: got %d bytes, want %d", got, want)
	}
	return time.Since(start).Seconds(), got
}

func TestForwardingOff(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{})
	c, mc := f.tunnel("a", "tank")
	if _, err := mc.ReadInputRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	cb, mcb := f.tunnel("b", "basin")
	// A request through it: the tunnel is up at the scoreboard, not only
	// dialled.
	if _, err := mcb.ReadInputRegisters(2, 0, 4); err != nil {
		t.Fatal(err)
	}
	st, v := f.post("/api/control/forwarding-off", f.tok.Instructor)
	if st != 200 || v["forwarding"] != false || v["closed"] != float64(2) {
		t.Fatalf("forwarding-off: %d %v", st, v)
	}
	for _, conn := range []*websocket.Conn{c, cb} {
		ce := closeOf(t, conn, 5*time.Second)
		if ce.Code != websocket.ClosePolicyViolation || ce.Text != "forwarding is off" {
			t.Fatalf("open tunnel closed with %d %q, want 1008 \"forwarding is off\"", ce.Code, ce.Text)
		}
	}
	c2, status, body := f.dial("plc=tank", f.tok.Teams["a"])
	if c2 != nil || status != 403 || !bytes.Contains(body, []byte(`"forwarding_off"`)) || !bytes.Contains(body, []byte("forwarding is off")) {
		t.Fatalf("new tunnel while off: status %d %s", status, body)
	}
	if f.healthForwarding() {
		t.Fatal("/healthz says forwarding is on")
	}
	// Slots come back once the closed tunnels are gone.
	deadline := time.Now().Add(5 * time.Second)
	for f.s.ForwardStatus().Teams["a"].Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("tunnels still open: %+v", f.s.ForwardStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, v = f.post("/api/control/forwarding-on", f.tok.Instructor)
	if st != 200 || v["forwarding"] != true {
		t.Fatalf("forwarding-on: %d %v", st, v)
	}
	_, mc = f.tunnel("a", "tank")
	if _, err := mc.ReadInputRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	if !f.healthForwarding() {
		t.Fatal("/healthz says forwarding is off")
	}
	// Starting switched off.
	g := newFwdFixture(t, ForwardOptions{Off: true})
	if c, status, _ := g.dial("plc=tank", g.tok.Teams["a"]); c != nil || status != 403 {
		t.Fatalf("Off: true: status %d", status)
	}
}

func TestForwardIdleAndPLCClose(t *testing.T) {
	f := newFwdFixture(t, ForwardOptions{Idle: 300 * time.Millisecond})
	c, mc := f.tunnel("a", "tank")
	// Traffic keeps it open past the idle time.
	for range 4 {
		if _, err := mc.ReadInputRegisters(1, 0, 1); err != nil {
			t.Fatalf("busy tunnel: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	ce := closeOf(t, c, 5*time.Second)
	if ce.Code != websocket.CloseGoingAway || !strings.Contains(ce.Text, "idle") {
		t.Fatalf("idle tunnel closed with %d %q", ce.Code, ce.Text)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle close after %v", d)
	}
	// The PLC dropping the connection (a malformed frame: protocol id 1)
	// closes the tunnel normally.
	c2, _ := f.tunnel("a", "tank")
	c2.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 0, 1, 0, 6, 1, 4, 0, 0, 0, 1})
	ce = closeOf(t, c2, 5*time.Second)
	if ce.Code != websocket.CloseNormalClosure || !strings.Contains(ce.Text, "PLC closed") {
		t.Fatalf("PLC-side close: %d %q", ce.Code, ce.Text)
	}
}
