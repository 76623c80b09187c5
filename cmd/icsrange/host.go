package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

func (m *Main) runHost(ctx context.Context, args []string) error {
	fs := m.newFlags("host", "--id ID --agent IP:PORT --token-file F [--route CIDR=GW ...]")
	id := fs.String("id", "", "the scenario host's id (required)")
	agent := fs.String("agent", "127.0.0.1:9040", "agent API listen address (the container's access-network address; keep it off zone networks)")
	tokenFile := fs.String("token-file", "", "file holding the agent API bearer token (default: a new token, printed)")
	var routes netsetup.Routes
	fs.Var(&routes, "route", "route CIDR=GW to add before serving, e.g. 10.128.2.0/24=10.128.1.254 (repeatable; needs CAP_NET_ADMIN, then every capability is dropped)")
	routesOnly := fs.Bool("routes-only", false, "add the --route routes and exit, serving nothing: the Docker backend runs this in a host container it put back on its zone network, whose routes went with the old interface")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *routesOnly {
		if len(routes) == 0 {
			return usageErr("--routes-only needs --route")
		}
		// The agent keeps no capability to do this itself; a process the
		// Docker daemon starts in the container (docker exec) has the
		// container's CAP_NET_ADMIN and ends here.
		if err := netsetup.AddRoutes(routes); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "routes %s\n", routes.String())
		return nil
	}
	if *id == "" {
		return usageErr("--id is required")
	}
	tok, err := loadOrMakeToken(*tokenFile)
	if err != nil {
		return err
	}
	rep, err := netsetup.Setup(routes)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *agent)
	if err != nil {
		return fmt.Errorf("listen agent: %w%s", err, lowPortHint(err, rep.Dropped))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runner := attack.NewRunner(ctx)
	hs := &http.Server{Handler: hostagent.Handler(*id, runner, token.HashOf(tok)), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	fmt.Fprintf(m.Stdout, "host %s agent=%s\n", *id, ln.Addr())
	if len(routes) > 0 {
		fmt.Fprintf(m.Stdout, "%s\n", rep)
	}
	if *tokenFile == "" {
		fmt.Fprintf(m.Stdout, "agent token: %s\n", tok)
	}
	errc := make(chan error, 1)
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("agent: %w", err)
		}
		close(errc)
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	runner.StopAll()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	hs.Shutdown(sctx)
	for range errc {
	}
	runner.Wait()
	if runErr == nil {
		fmt.Fprintf(m.Stdout, "host %s stopped\n", *id)
	}
	return runErr
}

// lowPortHint explains a refused bind once capabilities are gone.
func lowPortHint(err error, dropped bool) string {
	if !dropped || !errors.Is(err, syscall.EACCES) {
		return ""
	}
	return " (capabilities are dropped after --route: a port below 1024 needs net.ipv4.ip_unprivileged_port_start=0, Docker's default for containers)"
}
