package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/internal/workpool"
)

func (b *Backend) provision(ctx context.Context, cli *client.Client, plan backend.Plan, s *saved, n names, tok, dial string, lease *leaser, progress func(backend.Step)) (*Deployment, error) {
	// Subnets: a /24 per team and zone, then one for the team's access
	// network, in sequence, skipping what any Docker network uses.
	existing, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, nw := range existing {
		for _, c := range nw.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	alloc := newAllocator(used)
	netsOf := map[string][]*netSpec{}
	for _, t := range plan.Teams {
		if netsOf[t], err = teamNets(plan, t, n, alloc); err != nil {
			return nil, err
		}
	}
	base := planLabels(plan)
	if err := tokenVolume(ctx, cli, s.Image, base, n.volume(), tok); err != nil {
		return nil, err
	}

	// Each team in a pipeline: its networks, then its containers (create,
	// join the zone networks, start), each then watched until it answers
	// while the others start; the first failure stops everything. Not a
	// workpool.Each: a goroutine per network and container, most of whose
	// time is the wait for it to answer, and a workpool.Limit on the
	// Docker calls they make, so a team's containers start while others
	// are still being waited for.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	limit := workpool.NewLimit(b.workers())
	docker := func(fn func() error) error { return limit.Do(ctx, fn) }
	total := len(plan.Teams) * (1 + len(plan.PLCs) + len(plan.Hosts))
	nets := len(plan.Teams) * (len(plan.Zones) + 1)
	var netsDone, created, started, healthy int
	// One step at a time, in count order: progress callbacks need not be
	// safe for concurrent use.
	var stepMu sync.Mutex
	step := func(team, what, state string, ctr *int, of int) {
		stepMu.Lock()
		defer stepMu.Unlock()
		*ctr++
		if progress != nil {
			progress(backend.Step{Team: team, What: what, State: state, Done: *ctr, Total: of})
		}
	}
	t0 := time.Now()
	perTeam := total / max(len(plan.Teams), 1)
	var mu sync.Mutex
	var live []*ctr
	teamUp := map[string]int{}
	teamsUp := 0
	var warnOnce sync.Map
	var wg sync.WaitGroup
	for _, t := range plan.Teams {
		wg.Go(func() {
			var nwg sync.WaitGroup
			for _, ns := range netsOf[t] {
				nwg.Go(func() {
					if err := docker(func() error { return createNetwork(ctx, cli, base, ns, alloc) }); err != nil {
						cancel(err)
						return
					}
					what := "network " + ns.zone
					if ns.zone == "" {
						what = "network access"
					}
					step(t, what, "created", &netsDone, nets)
				})
			}
			nwg.Wait()
			if ctx.Err() != nil {
				return
			}
			zones, access := subnets(netsOf[t])
			tn, err := layout(plan, zones, access)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			s.Teams[t] = tn
			mu.Unlock()
			specs, err := teamSpecs(plan, t, tn, n, b.Expose)
			if err != nil {
				cancel(err)
				return
			}
			for _, c := range specs {
				wg.Go(func() {
					var id string
					err := docker(func() error {
						var err error
						if id, err = createContainer(ctx, cli, c.config(s.Image, base, s.Publish, n.volume()), &warnOnce, b); err != nil {
							return err
						}
						step(t, c.what(), "created", &created, total)
						if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
							return fmt.Errorf("start %s: %w", c.name, err)
						}
						return nil
					})
					if err != nil {
						cancel(err)
						return
					}
					step(t, c.what(), "started", &started, total)
					lc := &ctr{spec: c, id: id}
					mu.Lock()
					live = append(live, lc)
					mu.Unlock()
					if err := b.up(ctx, cli, lc, tok, dial, s.Publish, s.Expose); err != nil {
						cancel(err)
						return
					}
					lease.add(lc.mgmt)
					step(t, c.what(), "healthy", &healthy, total)
					mu.Lock()
					teamUp[t]++
					if teamUp[t] == perTeam {
						teamsUp++
						b.logf("%s ready (%d/%d teams, %.0f s)", t, teamsUp, len(plan.Teams), time.Since(t0).Seconds())
					}
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	b.logf("%d networks and %d containers up in %.1f s", nets, total, time.Since(t0).Seconds())
	return b.assemble(plan, s, live, cli, tok, lease)
}

// createNetwork makes one network; when its subnet was taken meanwhile
// (another exercise starting at the same time), it takes the next.
func createNetwork(ctx context.Context, cli *client.Client, base map[string]string, ns *netSpec, alloc *allocator) error {
	for attempt := 0; ; attempt++ {
		// Not cancelled midway: a create the client gave up on may still
		// complete in the daemon after the failure cleanup has listed the
		// networks, and be left behind.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := cli.NetworkCreate(cctx, ns.name, ns.options(base))
		ccancel()
		if err == nil {
			return nil
		}
		if attempt < 10 && strings.Contains(err.Error(), "overlaps") {
			alloc.markUsed(ns.subnet)
			p, terr := alloc.take()
			if terr != nil {
				return terr
			}
			ns.subnet = p
			continue
		}
		return fmt.Errorf("create network %s (%s): %w", ns.name, ns.subnet, err)
	}
}

// createContainer creates a container in its access network and joins it
// to its zone networks.
func createContainer(ctx context.Context, cli *client.Client, cc containerConfig, warnOnce *sync.Map, b *Backend) (string, error) {
	resp, err := cli.ContainerCreate(ctx, cc.Config, cc.Host, cc.Networking, nil, cc.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", cc.Name, err)
	}
	for _, w := range resp.Warnings {
		if _, seen := warnOnce.LoadOrStore(w, true); !seen {
			b.logf("warning from the Docker daemon: %s", w)
		}
	}
	for _, j := range cc.Join {
		if err := cli.NetworkConnect(ctx, j.Network, resp.ID, j.Endpoint); err != nil {
			return "", fmt.Errorf("connect %s to %s: %w", cc.Name, j.Network, err)
		}
	}
	return resp.ID, nil
}
