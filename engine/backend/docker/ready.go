package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// ctr is a started container and where its published ports are.
type ctr struct {
	spec    *ctrSpec
	id      string
	ports   map[string]string    // container port → host:port the engine dials
	exposed string               // Modbus on the --expose address
	mgmt    *plantsim.MgmtClient // a PLC's management API
}

// up reads a started container's published ports and waits until it
// answers: a PLC its management API and Modbus, a host agent and a router
// their health. A container that exits fails at once, with its log.
func (b *Backend) up(ctx context.Context, cli *client.Client, c *ctr, tok, dial, publish, expose string) error {
	info, err := cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", c.spec.name, err)
	}
	c.ports = map[string]string{}
	if info.NetworkSettings != nil {
		for _, p := range c.spec.ports {
			for _, pb := range info.NetworkSettings.Ports[nat.Port(p)] {
				if pb.HostIP == publish {
					c.ports[p] = net.JoinHostPort(dial, pb.HostPort)
				}
			}
		}
		if expose != "" && c.spec.role == RolePLC {
			for _, pb := range info.NetworkSettings.Ports[portModbus] {
				if pb.HostIP == expose {
					c.exposed = net.JoinHostPort(exposedHost(expose), pb.HostPort)
				}
			}
		}
	}
	for _, p := range c.spec.ports {
		if c.ports[p] == "" {
			return fmt.Errorf("%s: Docker published no port for %s on %s (its networks: %v)", c.spec.name, p, publish, networkNames(info))
		}
	}
	var check func(context.Context) error
	switch c.spec.role {
	case RolePLC:
		mc := plantsim.NewMgmtClient(c.ports[portMgmt], tok)
		c.mgmt = mc
		check = func(ctx context.Context) error {
			if _, err := mc.Health(ctx); err != nil {
				return err
			}
			return probeModbus(ctx, c.ports[portModbus])
		}
	case RoleHost:
		ac := hostagent.NewClient(c.ports[portAgent], tok, healthClient)
		check = func(ctx context.Context) error { _, err := ac.Health(ctx); return err }
	case RoleRouter:
		rc := router.NewClient(c.ports[portRouter], tok, healthClient)
		check = func(ctx context.Context) error { _, err := rc.Health(ctx); return err }
	}
	return waitUp(ctx, cli, c, check, b.readyTimeout())
}

// healthClient is what readiness checks ask with: a short timeout, since
// they are retried.
var healthClient = &http.Client{Timeout: 3 * time.Second}

// waitUp polls check until it passes, the container exits or time runs out.
func waitUp(ctx context.Context, cli *client.Client, c *ctr, check func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	lastInspect := time.Now() // the daemon is busy starting the others: ask it seldom
	delay := 50 * time.Millisecond
	for {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		if time.Since(lastInspect) > 2*time.Second {
			lastInspect = time.Now()
			if info, err := cli.ContainerInspect(ctx, c.id); err == nil && info.State != nil && !info.State.Running {
				return fmt.Errorf("%s exited (code %d): %s", c.spec.name, info.State.ExitCode, logTail(context.WithoutCancel(ctx), cli, c.id))
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s does not answer after %v: %v; its log: %s", c.spec.name, timeout, last, logTail(context.WithoutCancel(ctx), cli, c.id))
			}
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 400*time.Millisecond)
	}
}

// probeModbus checks that the published Modbus port leads to a listener,
// without sending a request: Docker's proxy accepts at once and closes the
// connection only when the container refuses it. A Modbus request would
// show in the traffic log as the Docker gateway's, which the engine can't
// attribute to itself through the proxy; the management API's health says
// the PLC serves (it listens on Modbus before it starts the API).
func probeModbus(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // held open: the PLC took the connection
	}
	if err == nil {
		return errors.New("modbus: unexpected data before a request")
	}
	return fmt.Errorf("modbus %s: %w", addr, err)
}

func networkNames(info container.InspectResponse) []string {
	var out []string
	if info.NetworkSettings != nil {
		for n := range info.NetworkSettings.Networks {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// logTail is the end of a container's log, for errors.
func logTail(ctx context.Context, cli *client.Client, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "10"})
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 16<<10))
	s := strings.TrimSpace(out.String())
	if s == "" {
		return "(empty)"
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// exposedHost is what trainees dial for a port on the --expose address:
// the address itself, or for 0.0.0.0 this machine's name.
func exposedHost(expose string) string {
	if ip, err := netip.ParseAddr(expose); err == nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return expose
}
