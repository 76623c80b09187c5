package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/scoreboard"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "icsrange test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// wsView is what the test reads of a team's view.
type wsView struct {
	Exercise struct {
		Phase   engine.Phase `json:"phase"`
		ClockMS int64        `json:"clock_ms"`
	} `json:"exercise"`
	Ranking []engine.Placing `json:"ranking"`
}

// readViews reads a WebSocket's messages and passes on each team view
// (from the snapshot and the pushes) until fn says stop.
func readViews(t *testing.T, conn *websocket.Conn, within time.Duration, fn func(v wsView) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		conn.SetReadDeadline(deadline)
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			var m scoreboard.Message
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			var v wsView
			switch m.Type {
			case "snapshot":
				var s struct {
					View wsView `json:"view"`
				}
				json.Unmarshal(m.Data, &s)
				v = s.View
			case "view":
				json.Unmarshal(m.Data, &v)
			default:
				continue
			}
			if !fn(v) {
				return
			}
		}
	}
}

// Started with TLS, a listen address, an allowed origin and a speed of its
// own, killed with -9 and resumed with nothing but --resume --data from
// another directory: the exercise is served again on the same address over
// TLS, a browser-style WSS client from the allowed origin that was
// connected when the engine died reconnects (one from another origin is
// refused), the clock runs at the original speed,
// and after the end the server goes on serving the final board, the
// ranking and the report until Ctrl-C.
func TestResumeServesAsStarted(t *testing.T) {
	certDir := t.TempDir()
	pool := selfSigned(t, certDir)
	addr := freeAddr(t)
	data := filepath.Join(t.TempDir(), "data")
	scen, err := filepath.Abs(killScenario)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://range.example.org"
	// Relative certificate paths: the resume runs elsewhere.
	first := exec.Command(binary, "run", scen, "--teams", "2", "--start", "now", "--speed", "60", "--seed", "5",
		"--listen", addr, "--tls-cert", "cert.pem", "--tls-key", "key.pem", "--origin", origin, "--data", data)
	first.Dir = certDir
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(time.Minute, func() { first.Process.Kill() })
	var head strings.Builder
	for sc.Scan() && !strings.Contains(sc.Text(), `Inject "Setpoint change" fired`) {
		head.WriteString(sc.Text() + "\n")
	}
	deadline.Stop()
	if !strings.Contains(head.String(), "https://"+addr+"/") {
		t.Fatalf("the first run does not serve https on %s:\n%s", addr, head.String())
	}
	var tok engine.Tokens
	b, _ := os.ReadFile(filepath.Join(data, engine.TokensFile))
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	wsURL := "wss://" + addr + "/ws"
	dial := func(from string) (*websocket.Conn, *http.Response, error) {
		return dialer.Dial(wsURL, http.Header{"Origin": {from}})
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "data": map[string]any{"token": tok.Teams["team-1"], "last_seq": 0}})
	// A team's browser is connected when the engine dies.
	conn, _, err := dial(origin)
	if err != nil {
		t.Fatalf("WSS from %s to the first run: %v", origin, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		t.Fatal(err)
	}
	readViews(t, conn, 30*time.Second, func(v wsView) bool { return v.Exercise.Phase != engine.PhaseRunning })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break // the connection went with the engine
		}
	}
	conn.Close()

	var out syncBuffer
	resumed := exec.Command(binary, "run", "--resume", "--data", data)
	resumed.Dir = t.TempDir()
	resumed.Stdout, resumed.Stderr = &out, &out
	if err := resumed.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- resumed.Wait() }()
	t.Cleanup(func() {
		resumed.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("the resumed run:\n%s", out.String())
		}
	})

	// It reconnects, as the pages do, to the same URL.
	for start := time.Now(); ; {
		c, _, err := dial(origin)
		if err == nil {
			conn = c
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no WSS from %s on %s after the resume: %v", origin, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer conn.Close()
	if c, res, err := dial("https://elsewhere.example.org"); err == nil {
		c.Close()
		t.Error("a WebSocket from another origin was accepted")
	} else if res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a WebSocket from another origin: %v, want 403", err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		t.Fatal(err)
	}

	// The clock runs at ×60, not the default ×1: measured loosely, over
	// three seconds or more of wall time.
	var t0 time.Time
	var c0 int64
	rate := 0.0
	var final wsView
	readViews(t, conn, 3*time.Minute, func(v wsView) bool {
		switch {
		case v.Exercise.Phase == engine.PhaseEnded:
			final = v
			return false
		case v.Exercise.Phase != engine.PhaseRunning || rate > 0:
		case t0.IsZero():
			t0, c0 = time.Now(), v.Exercise.ClockMS
		case time.Since(t0) >= 3*time.Second:
			rate = float64(v.Exercise.ClockMS-c0) / float64(time.Since(t0).Milliseconds())
		}
		return true
	})
	if rate < 5 || rate > 90 {
		t.Errorf("the resumed clock ran at ×%.1f of wall time, want about ×60", rate)
	}
	if len(final.Ranking) != 2 || final.Ranking[0].Rank != 1 {
		t.Errorf("the ended view's ranking: %+v", final.Ranking)
	}
	if !strings.Contains(out.String(), "speed ×60") {
		t.Errorf("the resume does not run at ×60")
	}

	// After the end: the board, the report, until Ctrl-C.
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	var board struct {
		Exercise struct {
			Phase engine.Phase `json:"phase"`
		} `json:"exercise"`
	}
	get := func(path, token string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := https.Do(req)
		if err != nil {
			t.Fatalf("GET %s after the end: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s after the end: %s: %s", path, res.Status, body)
		}
		return body
	}
	if err := json.Unmarshal(get("/api/scoreboard", ""), &board); err != nil || board.Exercise.Phase != engine.PhaseEnded {
		t.Errorf("the board after the end: %v %+v", err, board)
	}
	if report := get("/api/report?format=html", tok.Instructor); !strings.Contains(string(report), "<!doctype html>") {
		t.Errorf("the report download is not the report: %.100s", report)
	}
	waitFor(t, "the resumed run", out.String, "keeps serving the final board")
	resumed.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("Ctrl-C after the end: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ctrl-C did not stop the lingering server")
	}

	// The settings as kept: absolute certificate paths.
	meta, err := readMeta(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	var s runSettings
	if err := json.Unmarshal([]byte(meta[engine.MetaSettings]), &s); err != nil {
		t.Fatal(err)
	}
	if s.TLSCert != filepath.Join(certDir, "cert.pem") || s.Listen != addr || s.Speed != 60 || !slices.Equal(s.Origins, []string{origin}) {
		t.Errorf("kept settings: %+v", s)
	}
}

// A flag given on a resume overrides the kept setting and is kept for the
// next one; flags that would make another exercise are refused. Ctrl-C
// while running says where the data is and the exact commands, quoted for
// a shell.
func TestResumeOverridesAndSaves(t *testing.T) {
	data := filepath.Join(t.TempDir(), "it's day 1")
	stopAfterSummary := func(args ...string) string {
		t.Helper()
		var out, errb syncBuffer
		m := &Main{Stdout: &out, Stderr: &errb}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- m.Run(ctx, args) }()
		for start := time.Now(); !strings.Contains(out.String(), "Waiting for the instructor"); time.Sleep(20 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				cancel()
				t.Fatalf("%v: no summary:\n%s%s", args, out.String(), errb.String())
			}
		}
		cancel() // Ctrl-C
		if code := <-done; code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	kept := func() runSettings {
		t.Helper()
		meta, err := readMeta(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		var s runSettings
		if err := json.Unmarshal([]byte(meta[engine.MetaSettings]), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	out := stopAfterSummary("run", killScenario, "--data", data, "--listen", "127.0.0.1:0", "--speed", "7", "--origin", "https://a.example.org", "--linger", "5m")
	quoted := `'` + strings.ReplaceAll(data, "'", `'\''`) + `'`
	for _, want := range []string{
		"the exercise has not ended",
		"is in " + data,
		"No after-action report was written yet",
		"icsrange report --data " + quoted + " -o " + `'` + strings.ReplaceAll(filepath.Join(data, "report.html"), "'", `'\''`) + `'`,
		"Continue, served and run as now: icsrange run --resume --data " + quoted + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after Ctrl-C the output lacks %q:\n%s", want, out)
		}
	}
	if s := kept(); s.Speed != 7 || s.Linger != 5*time.Minute || !slices.Equal(s.Origins, []string{"https://a.example.org"}) || s.Start != "manual" {
		t.Fatalf("kept at create: %+v", s)
	}
	// Another speed and origin on the resume: they replace the kept ones.
	out = stopAfterSummary("run", "--resume", "--data", data, "--speed", "9", "--origin", "https://b.example.org")
	if !strings.Contains(out, "speed ×9") {
		t.Errorf("the resume with --speed 9 runs at:\n%s", out)
	}
	if s := kept(); s.Speed != 9 || s.Listen != "127.0.0.1:0" || s.Linger != 5*time.Minute || !slices.Equal(s.Origins, []string{"https://b.example.org"}) {
		t.Fatalf("kept after the resume with flags: %+v", s)
	}
	// A bare resume runs as the last one did.
	if out := stopAfterSummary("run", "--resume", "--data", data); !strings.Contains(out, "speed ×9") {
		t.Errorf("the bare resume after --speed 9 runs at:\n%s", out)
	}
	for _, args := range [][]string{{"--teams", "3"}, {"--seed", "4"}, {"--backend", "docker"}} {
		_, stderr, code := run(t, append([]string{"run", "--resume", "--data", data}, args...)...)
		if code != 2 || !strings.Contains(stderr, args[0]) {
			t.Errorf("resume with %v: exit %d: %s", args, code, stderr)
		}
	}
}

// Every flag of run is a kept setting, or one the engine keeps, or one
// that names or makes the exercise: nothing that shapes how it is served
// or run is forgotten by a resume.
func TestEveryRunFlagSurvivesResume(t *testing.T) {
	notSettings := map[string]string{
		"teams": "makes the exercise", "team": "makes the exercise", "seed": "makes the exercise",
		"data": "names the exercise", "resume": "the resume itself",
		"backend": "kept by the engine", "traffic-cap": "kept by the engine",
	}
	tags := map[string]bool{}
	st := reflect.TypeFor[runSettings]()
	for i := range st.NumField() {
		tag := st.Field(i).Tag.Get("flag")
		if tag == "" {
			t.Errorf("runSettings.%s has no flag tag", st.Field(i).Name)
		}
		tags[tag] = true
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	o := runOptions{runSettings: defaultRunSettings()}
	o.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := notSettings[f.Name]; !ok && !tags[f.Name] {
			t.Errorf("--%s is neither a kept setting nor listed as not one", f.Name)
		}
		delete(tags, f.Name)
	})
	for tag := range tags {
		t.Errorf("runSettings names a flag --%s that run does not have", tag)
	}
	// The override takes exactly the flags given.
	saved := runSettings{Listen: "0.0.0.0:8443", Speed: 10, Keep: true, Origins: []string{"https://a"}, Linger: lingerForever}
	given := defaultRunSettings()
	given.Speed, given.Origins = 3, []string{"https://b"}
	saved.override(&given, map[string]bool{"speed": true, "origin": true})
	want := runSettings{Listen: "0.0.0.0:8443", Speed: 3, Keep: true, Origins: []string{"https://b"}, Linger: lingerForever}
	if !reflect.DeepEqual(saved, want) {
		t.Errorf("override: %+v, want %+v", saved, want)
	}
	if shellQuote("plain/dir-1") != "plain/dir-1" || shellQuote("a b") != "'a b'" || shellQuote("") != "''" {
		t.Errorf("shellQuote: %q %q %q", shellQuote("plain/dir-1"), shellQuote("a b"), shellQuote(""))
	}
}
