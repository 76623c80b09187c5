package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

// paramFlag collects repeated --param name=value flags.
type paramFlag plantsim.Params

func (p paramFlag) String() string { return "" }
func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("param %s: %w", k, err)
	}
	p[k] = f
	return nil
}

func (m *Main) runPLC(ctx context.Context, args []string) error {
	fs := m.newFlags("plc", "--model M [--listen ADDR] [--mgmt ADDR] [flags]")
	model := fs.String("model", "", "process model: "+strings.Join(plantsim.ModelNames(), ", "))
	id := fs.String("id", "", "PLC name (device identification and logs); default the model name")
	listen := fs.String("listen", "127.0.0.1:5020", "Modbus/TCP listen address")
	mgmt := fs.String("mgmt", "127.0.0.1:9020", "management API listen address (keep it off trainee networks)")
	unit := fs.Uint("unit-id", 1, "Modbus unit id (0 and 255 are always answered too)")
	scan := fs.Duration("scan", plantsim.DefaultScan, "logic scan period (20ms..500ms)")
	seed := fs.Uint64("seed", 1, "noise seed; the same seed gives the same run")
	noise := fs.Float64("noise", 1, "sensor noise multiplier (0 = none)")
	tokenFile := fs.String("token-file", "", "file holding the management API bearer token (default: a new token, printed)")
	maxClients := fs.Int("max-clients", plantsim.DefaultMaxClients, "concurrent connections of each protocol (Modbus, IEC 104, OPC UA)")
	idle := fs.Duration("idle-timeout", plantsim.DefaultIdleTimeout, "close Modbus and OPC UA connections idle this long")
	frameTimeout := fs.Duration("frame-timeout", plantsim.DefaultFrameTimeout, "close a connection (Modbus, IEC 104, OPC UA) that begins a frame and does not complete it this long after (1s..1m)")
	tlsListen := fs.String("tls-listen", "", "also serve Modbus/TCP Security (TLS, roles from client certificates) here, e.g. 127.0.0.1:802")
	tlsCert := fs.String("tls-cert", "", "server certificate (PEM) for --tls-listen")
	tlsKey := fs.String("tls-key", "", "server key (PEM) for --tls-listen")
	tlsCA := fs.String("tls-ca", "", "CA (PEM) that signs client certificates for --tls-listen")
	clock := fs.String("clock", "wall", "wall: run in real time; engine: stand still until an engine advances it (POST /v1/advance)")
	printMap := fs.Bool("print-map", false, "print the model's register map and exit")
	mapFormat := fs.String("map-format", "text", "register map format: text or json")
	params := paramFlag{}
	fs.Var(params, "param", "model parameter name=value (repeatable)")
	var routes netsetup.Routes
	fs.Var(&routes, "route", "route CIDR=GW to add before listening, e.g. 10.128.2.0/24=10.128.1.254 (repeatable; needs CAP_NET_ADMIN, then every capability is dropped)")
	capOn := fs.Bool("capture", false, "capture the packets of the PLC's ports (Modbus, and IEC 104 and OPC UA when served) on every interface, served at GET /v1/packets (needs CAP_NET_RAW, then every capability is dropped)")
	capPackets := fs.Int("capture-packets", capture.DefaultMaxPackets, "packets the capture ring holds")
	capMiB := fs.Int("capture-mib", capture.DefaultMaxBytes>>20, "MiB the capture ring holds")
	var protos protoFlags
	protos.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *model == "" {
		return usageErr("--model is required (one of %s)", strings.Join(plantsim.ModelNames(), ", "))
	}
	def, ok := plantsim.LookupModel(*model)
	if !ok {
		return usageErr("unknown model %q (have %s)", *model, strings.Join(plantsim.ModelNames(), ", "))
	}
	if *printMap {
		switch *mapFormat {
		case "text":
			return def.PrintMap(m.Stdout)
		case "json":
			enc := json.NewEncoder(m.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"model": def.Name, "registers": def.Map()})
		}
		return usageErr("--map-format must be text or json")
	}
	if *clock != "wall" && *clock != "engine" {
		return usageErr("--clock must be wall or engine")
	}
	if *unit > 247 && *unit != 255 {
		return usageErr("--unit-id %d is outside 1..247", *unit)
	}
	if *frameTimeout < plantsim.MinFrameTimeout || *frameTimeout > plantsim.MaxFrameTimeout {
		return usageErr("--frame-timeout %v is outside %v..%v", *frameTimeout, plantsim.MinFrameTimeout, plantsim.MaxFrameTimeout)
	}
	plc, err := plantsim.New(plantsim.Config{ID: *id, Model: *model, Params: plantsim.Params(params),
		Seed: *seed, Noise: *noise, Scan: *scan, UnitID: byte(*unit)})
	if err != nil {
		return err
	}

	tok, err := loadOrMakeToken(*tokenFile)
	if err != nil {
		return err
	}
	// The packet socket first: opening it takes CAP_NET_RAW, which goes
	// with every other capability below; the open socket keeps working.
	var capt *capture.Capture
	if *capOn {
		extra, err := protos.ports()
		if err != nil {
			return err
		}
		if capt, err = openCapture(*listen, extra, *capPackets, *capMiB); err != nil {
			return err
		}
		defer capt.Close()
	}
	// Routes to the plant's other zones, then no privileges: all before
	// anything listens.
	netRep, err := netsetup.Setup(routes)
	if err != nil {
		return err
	}
	if capt != nil && !netRep.Dropped {
		// No routes to add, but what serves trainees still runs without
		// CAP_NET_RAW (or anything else).
		if netRep.BoundingSet, err = netsetup.DropCapabilities(); err != nil {
			return fmt.Errorf("drop capabilities after opening the capture: %w", err)
		}
		netRep.Dropped = true
	}
	srvCfg := plantsim.ServerConfig{MaxClients: *maxClients, IdleTimeout: *idle, FrameTimeout: *frameTimeout}
	plain := plantsim.NewServer(plc, srvCfg)
	mbLn, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen modbus: %w%s", err, lowPortHint(err, netRep.Dropped))
	}
	var secure *plantsim.Server
	var tlsLn net.Listener
	if *tlsListen != "" {
		cfg, err := serverTLS(*tlsCert, *tlsKey, *tlsCA)
		if err != nil {
			mbLn.Close()
			return err
		}
		c := srvCfg
		c.TLS = cfg
		secure = plantsim.NewServer(plc, c)
		if tlsLn, err = net.Listen("tcp", *tlsListen); err != nil {
			mbLn.Close()
			return fmt.Errorf("listen modbus/tls: %w", err)
		}
	}
	mgLn, err := net.Listen("tcp", *mgmt)
	if err != nil {
		mbLn.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return fmt.Errorf("listen mgmt: %w%s", err, lowPortHint(err, netRep.Dropped))
	}
	extra, err := protos.servers(plc, srvCfg)
	if err != nil {
		mbLn.Close()
		mgLn.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return err
	}
	var mgmtOpts []plantsim.MgmtOption
	if capt != nil {
		mgmtOpts = append(mgmtOpts, plantsim.WithPackets(capt))
	}
	hs := &http.Server{Handler: plantsim.MgmtHandler(plc, token.HashOf(tok), mgmtOpts...), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}

	fmt.Fprintf(m.Stdout, "plc %s (%s) modbus=%s unit=%d mgmt=%s scan=%v clock=%s\n", plc.ID(), def.Name, mbLn.Addr(), plc.UnitID(), mgLn.Addr(), *scan, *clock)
	if tlsLn != nil {
		fmt.Fprintf(m.Stdout, "modbus/tls=%s\n", tlsLn.Addr())
	}
	for _, ps := range extra {
		fmt.Fprintln(m.Stdout, ps.desc)
	}
	if capt != nil {
		fmt.Fprintf(m.Stdout, "capture: %s on every interface, ring of %d packets or %d MiB\n", capturePorts(*listen, &protos), *capPackets, *capMiB)
	}
	if len(routes) > 0 || capt != nil {
		fmt.Fprintf(m.Stdout, "%s\n", netRep)
	}
	if *tokenFile == "" {
		fmt.Fprintf(m.Stdout, "management token: %s\n", tok)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4+len(extra))
	if capt != nil {
		wg.Go(func() {
			if err := capt.Run(ctx); err != nil {
				errc <- fmt.Errorf("capture: %w", err)
			}
		})
	}
	if *clock == "wall" {
		wg.Go(func() { plantsim.RunRealtime(ctx, *scan, plc) })
	}
	wg.Go(func() {
		if err := plain.Serve(mbLn); !errors.Is(err, plantsim.ErrServerClosed) {
			errc <- fmt.Errorf("modbus: %w", err)
		}
	})
	if secure != nil {
		wg.Go(func() {
			if err := secure.Serve(tlsLn); !errors.Is(err, plantsim.ErrServerClosed) {
				errc <- fmt.Errorf("modbus/tls: %w", err)
			}
		})
	}
	wg.Go(func() {
		if err := hs.Serve(mgLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("mgmt: %w", err)
		}
	})
	for _, ps := range extra {
		wg.Go(func() {
			if err := ps.serve(ps.ln); !errors.Is(err, plantsim.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", ps.name, err)
			}
		})
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	plain.Close()
	if secure != nil {
		secure.Close()
	}
	for _, ps := range extra {
		ps.close()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	hs.Shutdown(sctx)
	wg.Wait()
	if runErr == nil {
		fmt.Fprintf(m.Stdout, "plc %s stopped\n", plc.ID())
	}
	return runErr
}

// openCapture opens the packet capture for the Modbus port of listen and
// the ports of the other protocols served.
func openCapture(listen string, extra []uint16, packets, mib int) (*capture.Capture, error) {
	port, err := strconv.ParseUint(listenPort(listen), 10, 16)
	if err != nil || port == 0 {
		return nil, usageErr("--capture needs --listen with a fixed port, not %q", listen)
	}
	// The ring's slots are allocated up front: bound them too.
	if packets < 1 || packets > 1_000_000 || mib < 1 || mib > 1024 {
		return nil, usageErr("--capture-packets must be 1..1000000 and --capture-mib 1..1024")
	}
	c, err := capture.Open(capture.Config{Ports: append([]uint16{uint16(port)}, extra...), MaxPackets: packets, MaxBytes: mib << 20})
	if err != nil {
		return nil, fmt.Errorf("--capture: %w", err)
	}
	return c, nil
}

// capturePorts names the captured ports ("tcp port 502", "tcp ports 502,2404").
func capturePorts(listen string, p *protoFlags) string {
	ports := []string{listenPort(listen)}
	extra, _ := p.ports()
	for _, e := range extra {
		ports = append(ports, strconv.Itoa(int(e)))
	}
	if len(ports) == 1 {
		return "tcp port " + ports[0]
	}
	return "tcp ports " + strings.Join(ports, ",")
}

// listenPort is the port of a listen address ("" if it has none).
func listenPort(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	return port
}

func loadOrMakeToken(path string) (string, error) {
	if path == "" {
		return token.New(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 16 {
		return "", fmt.Errorf("token in %s is shorter than 16 characters", path)
	}
	return t, nil
}

func serverTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("--tls-listen needs --tls-cert, --tls-key and --tls-ca")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load tls key pair: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}
