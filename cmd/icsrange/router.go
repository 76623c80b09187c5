package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// conduitFlag collects repeated --conduit FROM>TO:PORTS flags.
type conduitFlag []router.Conduit

func (c *conduitFlag) String() string {
	if c == nil {
		return ""
	}
	s := make([]string, len(*c))
	for i, x := range *c {
		s[i] = x.String()
	}
	return strings.Join(s, " ")
}

func (c *conduitFlag) Set(s string) error {
	x, err := router.ParseConduit(s)
	if err != nil {
		return err
	}
	*c = append(*c, x)
	return nil
}

func (m *Main) runRouter(ctx context.Context, args []string) error {
	fs := m.newFlags("router", "--mgmt IP:PORT --token-file F --conduit FROM_CIDR>TO_CIDR:PORTS ...")
	mgmt := fs.String("mgmt", "127.0.0.1:9030", "management API listen address (the container's access-network address; keep it off zone networks)")
	tokenFile := fs.String("token-file", "", "file holding the management API bearer token (default: a new token, printed)")
	icmp := fs.Bool("icmp", true, "let pings (ICMP echo) along open conduits")
	transitive := fs.Bool("transitive", false, "also forward along chains of open conduits (A>B and B>C on a port pass A to C on it), as the engine's logical network reaches zones")
	var conduits conduitFlag
	fs.Var(&conduits, "conduit", "an open conduit FROM_CIDR>TO_CIDR:PORTS, PORTS like 502,3389 or any (repeatable; new TCP connections from FROM to TO on PORTS are forwarded)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	_, portStr, err := net.SplitHostPort(*mgmt)
	if err != nil {
		return usageErr("--mgmt %q: %v", *mgmt, err)
	}
	mgmtPort, _ := strconv.ParseUint(portStr, 10, 16)
	tok, err := loadOrMakeToken(*tokenFile)
	if err != nil {
		return err
	}
	nft, err := router.NewNFT(-1)
	if err != nil {
		return err
	}
	defer nft.Close()
	rt, err := router.New(conduits, router.Options{ICMP: *icmp, Transitive: *transitive, MgmtPort: uint16(mgmtPort)}, nft)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := router.EnableForwarding(); err != nil {
		return err
	}
	// The rule set is in force before anything listens; it goes when the
	// router stops.
	if err := rt.Start(); err != nil {
		return err
	}
	defer func() {
		router.DisableForwarding()
		if err := nft.Remove(); err != nil {
			fmt.Fprintf(m.Stderr, "icsrange router: %v\n", err)
		}
	}()
	bounding, err := netsetup.DropCapabilities(netsetup.CapNetAdmin)
	if err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	ln, err := net.Listen("tcp", *mgmt)
	if err != nil {
		return fmt.Errorf("listen mgmt: %w", err)
	}
	hs := &http.Server{Handler: router.Handler(rt, token.HashOf(tok)), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	open := 0
	for _, c := range conduits {
		if c.Open {
			open++
		}
	}
	caps := "capabilities dropped but CAP_NET_ADMIN"
	if !bounding {
		caps += " (bounding set kept: no CAP_SETPCAP)"
	}
	fmt.Fprintf(m.Stdout, "router mgmt=%s conduits=%d open=%d rules=%d table=inet %s; %s\n",
		ln.Addr(), len(conduits), open, len(rt.Rules()), router.Table, caps)
	if *tokenFile == "" {
		fmt.Fprintf(m.Stdout, "management token: %s\n", tok)
	}
	errc := make(chan error, 1)
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("mgmt: %w", err)
		}
		close(errc)
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	for range errc {
	}
	if runErr == nil {
		fmt.Fprintf(m.Stdout, "router stopped\n")
	}
	return runErr
}
