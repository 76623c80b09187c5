package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/scoreboard"
)

// Client-side timing of a tunnel.
const (
	fwdWriteWait = 10 * time.Second
	// fwdReadWait bounds silence from the server, which pings every 54 s.
	fwdReadWait = 90 * time.Second
	// fwdCloseWait is how long a closing tunnel waits for the server's close frame.
	fwdCloseWait = 2 * time.Second
)

func (m *Main) runForward(ctx context.Context, args []string) error {
	fs := m.newFlags("forward", "--server URL --token TOKEN [--plc ID [--local ADDR]] [--ca FILE]")
	server := fs.String("server", "http://127.0.0.1:8080", "scoreboard URL (https:// uses wss://)")
	tok := fs.String("token", "", "team token (or --token-file, or $ICSRANGE_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the team token")
	plc := fs.String("plc", "", "forward only this PLC (default: every PLC of the team)")
	local := fs.String("local", "", "with --plc: the local address to listen on (default 127.0.0.1:0, a free port)")
	ca := fs.String("ca", "", "CA certificate (PEM) for a server with a private certificate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *local != "" && *plc == "" {
		return usageErr("--local needs --plc (without --plc every PLC gets a free port on 127.0.0.1)")
	}
	t, err := fwdToken(*tok, *tokFile)
	if err != nil {
		return err
	}
	tlsCfg, err := fwdTLS(*ca)
	if err != nil {
		return err
	}
	c, err := newFwdClient(*server, t, tlsCfg)
	if err != nil {
		return usageErr("%v", err)
	}
	team, plcs, err := c.plcs(ctx)
	if err != nil {
		return err
	}
	if *plc != "" {
		var pick []fwdPLC
		var ids []string
		for _, p := range plcs {
			ids = append(ids, p.ID)
			if p.ID == *plc {
				pick = append(pick, p)
			}
		}
		if len(pick) == 0 {
			return fmt.Errorf("team %s has no PLC %q (its PLCs: %s)", team, *plc, strings.Join(ids, ", "))
		}
		plcs = pick
	}
	if len(plcs) == 0 {
		return fmt.Errorf("team %s has no PLCs to forward", team)
	}
	addr := "127.0.0.1:0"
	if *local != "" {
		if addr, err = localAddr(*local); err != nil {
			return usageErr("--local: %v", err)
		}
	}
	var lns []net.Listener
	closeLns := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, p := range plcs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeLns()
			return fmt.Errorf("listen for %s: %w", p.ID, err)
		}
		lns = append(lns, ln)
	}
	fmt.Fprintf(m.Stdout, "Forwarding team %s's PLCs through %s (Ctrl-C to stop):\n", team, c.base)
	for i, p := range plcs {
		host, port, _ := net.SplitHostPort(lns[i].Addr().String())
		fmt.Fprintf(m.Stdout, "%s (unit %d) → %s  try: mbpoll -m tcp -a %d -p %s -t 3 -r 1 -c 4 %s\n",
			p.ID, p.UnitID, lns[i].Addr(), p.UnitID, port, host)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(m.Stderr, "warning: %s listens on %s: anyone who reaches it uses your team's PLC\n", p.ID, lns[i].Addr())
		}
	}
	c.out = m.Stderr
	var wg sync.WaitGroup
	for i, p := range plcs {
		wg.Go(func() { c.serve(ctx, lns[i], p) })
	}
	<-ctx.Done()
	closeLns()
	n := c.closeAll()
	wg.Wait()
	fmt.Fprintf(m.Stdout, "Stopped; %d forwarded connection(s) served, %d open at the end.\n", c.served(), n)
	return nil
}

// fwdToken reads the team token from the flag, the file or the environment.
func fwdToken(tok, file string) (string, error) {
	if tok == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		tok = os.Getenv("ICSRANGE_TOKEN")
	}
	if tok == "" {
		return "", usageErr("give your team token with --token, --token-file or $ICSRANGE_TOKEN")
	}
	return tok, nil
}

// fwdTLS trusts a private CA when one is given.
func fwdTLS(ca string) (*tls.Config, error) {
	if ca == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("read --ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", ca)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// localAddr completes a --local address: a bare port or ":PORT" listens on
// 127.0.0.1, never on every interface by accident.
func localAddr(s string) (string, error) {
	if _, err := strconv.Atoi(s); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// fwdPLC is a PLC of the team as /api/state lists it.
type fwdPLC struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	UnitID int    `json:"unit_id"`
}

// fwdClient opens tunnels for accepted local connections.
type fwdClient struct {
	base   string // http(s)://host[:port][/prefix]
	wsBase string // ws(s)://…
	token  string
	http   *http.Client
	dialer websocket.Dialer
	out    io.Writer

	mu     sync.Mutex
	active map[net.Conn]struct{}
	total  int
	done   bool
}

func newFwdClient(server, token string, tlsCfg *tls.Config) (*fwdClient, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server url %q: %w", server, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server url %q has no host", server)
	}
	var hs, ws string
	switch u.Scheme {
	case "http", "ws":
		hs, ws = "http", "ws"
	case "https", "wss":
		hs, ws = "https", "wss"
	default:
		return nil, fmt.Errorf("server url %q: want http(s)://host:port", server)
	}
	path := strings.TrimRight(u.Path, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &fwdClient{base: hs + "://" + u.Host + path, wsBase: ws + "://" + u.Host + path, token: token,
		http:   &http.Client{Transport: tr, Timeout: 15 * time.Second},
		dialer: websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: tlsCfg, ReadBufferSize: scoreboard.MaxForwardMessage + 64, WriteBufferSize: scoreboard.MaxForwardMessage + 64},
		out:    io.Discard, active: map[net.Conn]struct{}{}}, nil
}

// plcs asks the server which team the token is and which PLCs it has.
func (c *fwdClient) plcs(ctx context.Context) (string, []fwdPLC, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/state", nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("reach the server: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return "", nil, errors.New("the server rejected the token (401)")
	case res.StatusCode != http.StatusOK:
		return "", nil, fmt.Errorf("GET /api/state: %s", describeRefusal(res.StatusCode, body))
	}
	var v struct {
		Team  string   `json:"team"`
		Plant []fwdPLC `json:"plant"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", nil, fmt.Errorf("GET /api/state: %w", err)
	}
	if v.Team == "" {
		return "", nil, errors.New("this is not a team token: forwarding is for teams (instructors have the console)")
	}
	return v.Team, v.Plant, nil
}

// describeRefusal turns an error reply into one line.
func describeRefusal(status int, body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%d %s: %s", status, e.Error.Code, e.Error.Message)
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

func (c *fwdClient) say(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format+"\n", a...)
}

func (c *fwdClient) served() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// track registers an open local connection; false once stopping.
func (c *fwdClient) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.active[conn] = struct{}{}
	c.total++
	return true
}

func (c *fwdClient) untrack(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.active, conn)
}

// closeAll closes every local connection; their tunnels then close.
func (c *fwdClient) closeAll() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	for conn := range c.active {
		conn.Close()
	}
	return len(c.active)
}

// serve accepts local connections for one PLC until the listener closes.
func (c *fwdClient) serve(ctx context.Context, ln net.Listener, p fwdPLC) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return
		}
		if !c.track(conn) {
			conn.Close()
			return
		}
		wg.Go(func() {
			defer c.untrack(conn)
			c.tunnel(ctx, conn, p)
		})
	}
}

// tunnel carries one local connection over its own WebSocket.
func (c *fwdClient) tunnel(ctx context.Context, local net.Conn, p fwdPLC) {
	defer local.Close()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.token)
	ws, res, err := c.dialer.DialContext(ctx, c.wsBase+"/forward?plc="+url.QueryEscape(p.ID), h)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if res != nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
			c.say("%s: the server refused the connection from %s: %s", p.ID, local.RemoteAddr(), describeRefusal(res.StatusCode, body))
			return
		}
		c.say("%s: connect to the server: %v", p.ID, err)
		return
	}
	defer ws.Close()
	ws.SetReadLimit(scoreboard.MaxForwardMessage)
	ws.SetReadDeadline(time.Now().Add(fwdReadWait))
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(fwdReadWait))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(fwdWriteWait))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
		}
		return nil
	})

	// Server → local. The server's close frame ends the local connection.
	done := make(chan struct{})
	var closing sync.Mutex
	closedByUs := false
	go func() {
		defer close(done)
		defer local.Close()
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				closing.Lock()
				us := closedByUs
				closing.Unlock()
				var ce *websocket.CloseError
				switch {
				case us:
				case errors.As(err, &ce):
					if ce.Code != websocket.CloseNormalClosure {
						c.say("%s: the server closed the tunnel: %s", p.ID, closeText(ce))
					}
				default:
					c.say("%s: tunnel lost: %v", p.ID, err)
				}
				return
			}
			ws.SetReadDeadline(time.Now().Add(fwdReadWait))
			if typ != websocket.BinaryMessage {
				continue
			}
			local.SetWriteDeadline(time.Now().Add(fwdWriteWait))
			if _, err := local.Write(msg); err != nil {
				return
			}
		}
	}()

	// Local → server, one message per read.
	buf := make([]byte, scoreboard.MaxForwardMessage)
	for {
		n, err := local.Read(buf)
		if n > 0 {
			ws.SetWriteDeadline(time.Now().Add(fwdWriteWait))
			if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// The local side is done (or the server closed, which closed it): say
	// goodbye and wait briefly for the server's close frame.
	closing.Lock()
	closedByUs = true
	closing.Unlock()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(fwdWriteWait))
	select {
	case <-done:
	case <-time.After(fwdCloseWait):
	}
	ws.Close()
	<-done
}

func closeText(ce *websocket.CloseError) string {
	if ce.Text != "" {
		return ce.Text
	}
	return fmt.Sprintf("close code %d", ce.Code)
}
