package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/internal/workpool"
)

// Recover re-attaches to a running exercise's containers: it finds them by
// label, unpauses and reconnects hosts, starts any that stopped (the
// engine then restores the PLCs' checkpoint and replays stopped, paused and
// disconnected hosts and cut conduits), re-reads their published ports and
// waits until they answer.
func (b *Backend) Recover(ctx context.Context, plan backend.Plan, data []byte) (backend.Deployment, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read saved docker deployment: %w", err)
	}
	tb, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read mgmt token: %w", err)
	}
	tok := strings.TrimSpace(string(tb))
	cli, release, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	_, dial, err := (&Backend{Publish: s.Publish, Expose: s.Expose}).addrs(cli)
	if err != nil {
		release()
		return nil, err
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelExercise+"="+plan.ExerciseID))})
	if err != nil {
		release()
		return nil, fmt.Errorf("list the exercise's containers: %w", err)
	}
	found := map[string]container.Summary{}
	for _, c := range list {
		found[c.Labels[LabelTeam]+"/"+c.Labels[LabelRole]+"/"+c.Labels[LabelID]] = c
	}
	var specs []*ctrSpec
	for _, t := range plan.Teams {
		if s.Teams[t] == nil {
			release()
			return nil, fmt.Errorf("the saved deployment has no team %s", t)
		}
		ts, err := teamSpecs(plan, t, s.Teams[t], newNames(plan.ExerciseID), s.Expose)
		if err != nil {
			release()
			return nil, fmt.Errorf("the saved deployment: %w", err)
		}
		specs = append(specs, ts...)
	}
	live := make([]*ctr, len(specs))
	for i, sp := range specs {
		c, ok := found[sp.team+"/"+sp.role+"/"+sp.id]
		if !ok {
			release()
			return nil, fmt.Errorf("team %s's %s is gone (removed with icsrange down?)", sp.team, sp.what())
		}
		live[i] = &ctr{spec: sp, id: c.ID}
	}
	lease := newLeaser(b.workers())
	err = workpool.Each(ctx, len(live), b.workers(), func(i int) error {
		c := live[i]
		if c.spec.role == RoleHost {
			// Paused or disconnected by the exercise: back as it was made
			// (a paused container does not start); the engine then
			// replays what the log says.
			if err := resetHost(ctx, cli, c); err != nil {
				return err
			}
		}
		if err := cli.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", c.spec.name, err)
		}
		if err := b.up(ctx, cli, c, tok, dial, s.Publish, s.Expose); err != nil {
			return err
		}
		lease.add(c.mgmt)
		return nil
	})
	if err != nil {
		lease.close(false)
		release()
		return nil, err
	}
	d, err := b.assemble(plan, &s, live, cli, tok, lease)
	if err != nil {
		lease.close(false)
		release()
		return nil, err
	}
	d.release = release
	return d, nil
}
