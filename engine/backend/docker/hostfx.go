package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Pausing and isolating hosts.
//
// pause_host is `docker pause`: the cgroup freezer stops the container's
// processes and its network stays up (a locked HMI, a hung workstation).
// A frozen agent answers nothing, so the engine never calls it then: an
// attack from a paused host is blocked at once, and its floods are ended
// before it freezes (they would hold the PLC's connection slots and go on
// when it thaws), as the in-process deployment ends them.
//
// disconnect_host is `docker network disconnect` from the host's zone
// network: its interface there goes, and with it every route the host had
// to the plant's other zones (added at startup by `icsrange host --route`,
// through the router's address in that zone). reconnect_host joins the
// network again with the same address and alias, and then the routes must
// be put back. The host agent can't: it dropped every capability once its
// routes were in, and keeping CAP_NET_ADMIN in a long-running process
// just for this would undo that. But a process `docker exec` starts gets
// the container's capabilities (HostConfig.CapAdd: CAP_NET_ADMIN), not
// the agent's, so an exec of `icsrange host --routes-only` with the
// container's own --route flags puts them back and exits. That needs only
// the Docker API the backend already holds, works with a remote daemon,
// takes a tenth of a second and leaves no extra container to reap.
//
// A stopped host can be disconnected, but a container started off its zone
// network can't add its routes (the gateway is on none of its networks)
// and exits. So a stopped host leaves its network when it next starts, once
// its agent answers; and a host reconnected while paused gets its routes
// when it resumes (a frozen container runs no exec).

// PauseHost freezes or thaws a running host.
func (h *hosts) PauseHost(ctx context.Context, team, host string, paused bool) error {
	hr, err := h.host(team, host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	up, was := hr.up, hr.paused
	h.mu.Unlock()
	if !up || was == paused {
		return nil
	}
	if paused {
		if err := h.StopAttacks(ctx, team, host); err != nil {
			return fmt.Errorf("pause host %s: end its attacks: %w", host, err)
		}
		if err := settled(ctx, func() error { return h.cli.ContainerPause(ctx, hr.container) }); err != nil {
			return fmt.Errorf("pause host %s: %w", host, err)
		}
		h.mu.Lock()
		hr.paused = true
		h.mu.Unlock()
		return nil
	}
	return h.thaw(ctx, host, hr)
}

// thaw unpauses a host and puts back routes it lost while frozen.
func (h *hosts) thaw(ctx context.Context, host string, hr *hostRT) error {
	if err := settled(ctx, func() error { return h.cli.ContainerUnpause(ctx, hr.container) }); err != nil {
		return fmt.Errorf("resume host %s: %w", host, err)
	}
	h.mu.Lock()
	hr.paused = false
	lost := hr.lostRoutes
	h.mu.Unlock()
	if lost {
		info, err := h.cli.ContainerInspect(ctx, hr.container)
		if err != nil {
			return fmt.Errorf("resume host %s: %w", host, err)
		}
		if err := addRoutes(ctx, h.cli, info); err != nil {
			return fmt.Errorf("resume host %s: %w", host, err)
		}
		h.mu.Lock()
		hr.lostRoutes = false
		h.mu.Unlock()
	}
	return nil
}

// ConnectHost takes a host off its zone network or puts it back with its
// address, alias and routes.
func (h *hosts) ConnectHost(ctx context.Context, team, host string, connected bool) error {
	hr, err := h.host(team, host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	up, paused, off := hr.up, hr.paused, hr.off
	h.mu.Unlock()
	if off == !connected {
		return nil
	}
	if !connected {
		if up {
			if !paused { // a paused host's floods ended when it froze
				if err := h.StopAttacks(ctx, team, host); err != nil {
					return fmt.Errorf("disconnect host %s: end its attacks: %w", host, err)
				}
			}
			if err := h.zone(ctx, team, host, hr, false); err != nil {
				return err
			}
		}
		h.mu.Lock()
		hr.off = true
		h.mu.Unlock()
		return nil
	}
	// A stopped host may still be on it (it left nothing yet) or not (it
	// was disconnected while it ran): either way it adds its routes when it
	// starts.
	if err := h.zone(ctx, team, host, hr, true); err != nil {
		return err
	}
	if up && !paused {
		info, err := h.cli.ContainerInspect(ctx, hr.container)
		if err != nil {
			return fmt.Errorf("reconnect host %s: %w", host, err)
		}
		if err := addRoutes(ctx, h.cli, info); err != nil {
			return fmt.Errorf("reconnect host %s: %w", host, err)
		}
	}
	h.mu.Lock()
	hr.off = false
	hr.lostRoutes = up && paused
	h.mu.Unlock()
	return nil
}

// host finds a team's host.
func (h *hosts) host(team, host string) (*hostRT, error) {
	t := h.teams[team]
	if t == nil {
		return nil, fmt.Errorf("unknown team %q", team)
	}
	hr := t.hosts[host]
	if hr == nil {
		return nil, fmt.Errorf("team %s has no host %q", team, host)
	}
	return hr, nil
}

// zone puts a host on its zone network or takes it off.
func (h *hosts) zone(ctx context.Context, team, host string, hr *hostRT, on bool) error {
	info, err := h.cli.ContainerInspect(ctx, hr.container)
	if err != nil {
		return fmt.Errorf("inspect host %s: %w", host, err)
	}
	nd, ok := h.teams[team].net.Hosts[host]
	if !ok {
		return fmt.Errorf("team %s has no address for host %s", team, host)
	}
	// The name teamSpecs gave it: the exercise is on every container.
	z := zoneEP{net: newNames(info.Config.Labels[LabelExercise]).zone(team, nd.Zone), ip: nd.IP, alias: host}
	_, err = setZone(ctx, h.cli, info, z, on)
	return err
}

// setZone joins a container to a zone network with its address and alias,
// or takes it off, unless it is so already; changed says whether it did.
func setZone(ctx context.Context, cli *client.Client, info container.InspectResponse, z zoneEP, on bool) (changed bool, err error) {
	have := false
	if info.NetworkSettings != nil {
		_, have = info.NetworkSettings.Networks[z.net]
	}
	if have == on {
		return false, nil
	}
	name := strings.TrimPrefix(info.Name, "/")
	if !on {
		if err := cli.NetworkDisconnect(ctx, z.net, info.ID, false); err != nil {
			return false, fmt.Errorf("disconnect %s from %s: %w", name, z.net, err)
		}
		return true, nil
	}
	if err := cli.NetworkConnect(ctx, z.net, info.ID, z.endpoint()); err != nil {
		return false, fmt.Errorf("connect %s to %s: %w", name, z.net, err)
	}
	return true, nil
}

// routeArgs are the --route flags a container was started with.
func routeArgs(cmd []string) []string {
	var out []string
	for i := 0; i < len(cmd); i++ {
		switch a := cmd[i]; {
		case (a == "--route" || a == "-route") && i+1 < len(cmd):
			out = append(out, "--route", cmd[i+1])
			i++
		case strings.HasPrefix(a, "--route=") || strings.HasPrefix(a, "-route="):
			out = append(out, a)
		}
	}
	return out
}

// addRoutes puts back the routes a running host container was started
// with, by running `icsrange host --routes-only` in it (see the comment at
// the top of this file).
func addRoutes(ctx context.Context, cli *client.Client, info container.InspectResponse) error {
	if info.Config == nil {
		return errors.New("add routes: the container has no config")
	}
	routes := routeArgs(info.Config.Cmd)
	if len(routes) == 0 {
		return nil // a one-zone plant: the zone network is all there is
	}
	cmd := append([]string{info.Path, "host", "--routes-only"}, routes...)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	// The new interface is up when NetworkConnect returns; a retry covers
	// a daemon that finishes its setup a moment later.
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("add routes: %w (%v)", ctx.Err(), last)
			case <-time.After(200 * time.Millisecond):
			}
		}
		if last = execIn(ctx, cli, info.ID, cmd); last == nil {
			return nil
		}
	}
	return fmt.Errorf("add routes: %w", last)
}

// execIn runs a command in a container and fails with its output unless
// it exits 0.
func execIn(ctx context.Context, cli *client.Client, id string, cmd []string) error {
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, io.LimitReader(att.Reader, 16<<10))
	att.Close()
	if err != nil {
		return fmt.Errorf("exec %s: read its output: %w", cmd[0], err)
	}
	// Its output ends when it exits; the daemon records the exit code a
	// moment later.
	for {
		ins, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			return fmt.Errorf("exec %s: %w", cmd[0], err)
		}
		if !ins.Running {
			if ins.ExitCode != 0 {
				return fmt.Errorf("%s exited with %d: %s", strings.Join(cmd, " "), ins.ExitCode, strings.TrimSpace(out.String()))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("exec %s: %w", cmd[0], ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// resetHost puts a host container back as it was made, unpaused and on
// its zone network with its routes, before Recover starts it: the engine
// then pauses and disconnects again what the event log says.
func resetHost(ctx context.Context, cli *client.Client, c *ctr) error {
	info, err := cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", c.spec.name, err)
	}
	running := info.State != nil && info.State.Running
	if info.State != nil && info.State.Paused {
		if err := cli.ContainerUnpause(ctx, c.id); err != nil {
			return fmt.Errorf("unpause %s: %w", c.spec.name, err)
		}
	}
	rejoined := false
	for _, z := range c.spec.zoneNets {
		changed, err := setZone(ctx, cli, info, z, true)
		if err != nil {
			return err
		}
		rejoined = rejoined || changed
	}
	if rejoined && running {
		if err := addRoutes(ctx, cli, info); err != nil {
			return fmt.Errorf("%s: %w", c.spec.name, err)
		}
	}
	return nil
}

// settled retries a pause or unpause the daemon refuses because its record
// of the last one is not in yet: Docker sets a container's Paused flag when
// containerd's event comes back, a moment after the call returned, so a
// pause right after an unpause can be told "already paused".
func settled(ctx context.Context, call func() error) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := call()
		if err == nil || time.Now().After(deadline) ||
			!(strings.Contains(err.Error(), "is already paused") || strings.Contains(err.Error(), "is not paused")) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
