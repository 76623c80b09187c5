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

func (m *Main) runPLC(ctx context.Context, args []string) error {
	fs := m.newFlags("plc", "--model M [--listen ADDR] [--mgmt ADDR] [flags]")
	cfg := plantsim.ProcessDefaults()
	cfg.Bind(fs)
	// Not the PLC's configuration: they print its register map instead of
	// running it.
	printMap := fs.Bool("print-map", false, "print the model's register map and exit")
	mapFormat := fs.String("map-format", "text", "register map format: text or json")
	var protos protoFlags
	protos.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	def, _ := plantsim.LookupModel(cfg.Model)
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
	plc, err := plantsim.New(cfg.PLC())
	if err != nil {
		return err
	}

	tok, err := loadOrMakeToken(cfg.TokenFile)
	if err != nil {
		return err
	}
	// The packet socket first: opening it takes CAP_NET_RAW, which goes
	// with every other capability below; the open socket keeps working.
	var capt *capture.Capture
	if cfg.Capture {
		extra, err := protos.ports()
		if err != nil {
			return err
		}
		if capt, err = openCapture(cfg, extra); err != nil {
			return err
		}
		defer capt.Close()
	}
	// Routes to the plant's other zones, then no privileges: all before
	// anything listens.
	netRep, err := netsetup.Setup(cfg.Routes)
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
	srvCfg := cfg.Server()
	plain := plantsim.NewServer(plc, srvCfg)
	mbLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen modbus: %w%s", err, lowPortHint(err, netRep.Dropped))
	}
	var secure *plantsim.Server
	var tlsLn net.Listener
	if cfg.TLSListen != "" {
		tc, err := serverTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA)
		if err != nil {
			mbLn.Close()
			return err
		}
		c := srvCfg
		c.TLS = tc
		secure = plantsim.NewServer(plc, c)
		if tlsLn, err = net.Listen("tcp", cfg.TLSListen); err != nil {
			mbLn.Close()
			return fmt.Errorf("listen modbus/tls: %w", err)
		}
	}
	mgLn, err := net.Listen("tcp", cfg.Mgmt)
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

	fmt.Fprintf(m.Stdout, "plc %s (%s) modbus=%s unit=%d mgmt=%s scan=%v clock=%s\n", plc.ID(), def.Name, mbLn.Addr(), plc.UnitID(), mgLn.Addr(), cfg.Scan, cfg.Clock)
	if tlsLn != nil {
		fmt.Fprintf(m.Stdout, "modbus/tls=%s\n", tlsLn.Addr())
	}
	for _, ps := range extra {
		fmt.Fprintln(m.Stdout, ps.desc)
	}
	if capt != nil {
		fmt.Fprintf(m.Stdout, "capture: %s on every interface, ring of %d packets or %d MiB\n", capturePorts(cfg.Listen, &protos), cfg.CapturePackets, cfg.CaptureMiB)
	}
	if len(cfg.Routes) > 0 || capt != nil {
		fmt.Fprintf(m.Stdout, "%s\n", netRep)
	}
	if cfg.TokenFile == "" {
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
	if cfg.Clock == plantsim.ClockWall {
		wg.Go(func() { plantsim.RunRealtime(ctx, cfg.Scan, plc) })
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

// openCapture opens the packet capture for the Modbus port and the ports
// of the other protocols served (Validate has checked there is a Modbus
// port and the ring's bounds).
func openCapture(cfg plantsim.ProcessConfig, extra []uint16) (*capture.Capture, error) {
	port, err := cfg.ModbusPort()
	if err != nil {
		return nil, err
	}
	c, err := capture.Open(capture.Config{Ports: append([]uint16{port}, extra...), MaxPackets: cfg.CapturePackets, MaxBytes: cfg.CaptureMiB << 20})
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
