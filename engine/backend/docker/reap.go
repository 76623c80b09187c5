package docker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/icsrange/icsrange/internal/workpool"
)

// Destroy removes every container, network and volume labelled with the
// exercise.
// It is idempotent: what is gone already is fine.
func (b *Backend) Destroy(ctx context.Context, exerciseID string) error {
	if exerciseID == "" {
		return errors.New("docker: destroy needs the exercise id")
	}
	cli, release, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	return destroy(ctx, cli, exerciseID, b.workers())
}

// Removed counts what a removal took away (or found gone already).
type Removed struct {
	Containers int `json:"containers"`
	Networks   int `json:"networks"`
	Volumes    int `json:"volumes"`
}

// None says whether nothing carried the exercise's label.
func (r Removed) None() bool { return r.Containers+r.Networks+r.Volumes == 0 }

// exerciseIDRe is what an exercise id may look like: a scenario id and a
// random suffix in practice; never a character a label filter would read
// otherwise.
var exerciseIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// CheckExerciseID rejects what cannot be an exercise's id.
func CheckExerciseID(id string) error {
	if !exerciseIDRe.MatchString(id) {
		return fmt.Errorf("exercise id %q: want letters, digits, '.', '_' and '-' (as icsrange ps lists them)", id)
	}
	return nil
}

// AttachedError is Remove's refusal while an engine drives the exercise.
type AttachedError struct {
	Exercise string
	Engine   Engine
}

func (e *AttachedError) Error() string {
	return fmt.Sprintf("an engine is attached to %s (%s): stop it first (Ctrl-C in its terminal), or remove anyway with --force", e.Exercise, e.Engine.Detail)
}

// Remove removes an exercise's plants found by label alone, with no data
// dir: every container (forced), network and volume carrying its
// icsrange.exercise label. Unless force, it refuses while an engine holds
// the exercise's lease; when that can't be told (no PLC answers), it goes
// on. Idempotent: what is gone already counts as done, and an exercise
// nothing carries the label of removes nothing (Removed.None).
func (b *Backend) Remove(ctx context.Context, exerciseID string, force bool) (Removed, Engine, error) {
	if err := CheckExerciseID(exerciseID); err != nil {
		return Removed{}, Engine{}, err
	}
	cli, release, err := b.connect(ctx)
	if err != nil {
		return Removed{}, Engine{}, err
	}
	defer release()
	var eng Engine
	if !force {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: exerciseFilter(exerciseID)})
		if err != nil {
			return Removed{}, Engine{}, fmt.Errorf("list containers: %w", err)
		}
		eng = engineOf(ctx, cli, cs)
		if eng.State == EngineAttached {
			return Removed{}, eng, &AttachedError{Exercise: exerciseID, Engine: eng}
		}
	}
	r, err := reap(ctx, cli, exerciseID, b.workers())
	return r, eng, err
}

func exerciseFilter(id string) filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelExercise+"="+id))
}

func destroy(ctx context.Context, cli *client.Client, exerciseID string, workers int) error {
	_, err := reap(ctx, cli, exerciseID, workers)
	return err
}

// reap removes what carries the exercise's label: containers, then their
// networks, then the token volume.
func reap(ctx context.Context, cli *client.Client, exerciseID string, workers int) (Removed, error) {
	var r Removed
	f := exerciseFilter(exerciseID)
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return r, fmt.Errorf("list containers: %w", err)
	}
	var removed atomic.Int64
	if err := workpool.All(ctx, len(list), workers, func(i int) error {
		err := cli.ContainerRemove(ctx, list[i].ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
			return fmt.Errorf("remove container %s: %w", strings.Join(list[i].Names, ","), err)
		}
		removed.Add(1)
		return nil
	}); err != nil {
		r.Containers = int(removed.Load())
		return r, err
	}
	r.Containers = int(removed.Load())
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return r, fmt.Errorf("list networks: %w", err)
	}
	removed.Store(0)
	nerr := workpool.All(ctx, len(nets), workers, func(i int) error {
		for attempt := 0; ; attempt++ {
			err := cli.NetworkRemove(ctx, nets[i].ID)
			if err == nil || cerrdefs.IsNotFound(err) {
				removed.Add(1)
				return nil
			}
			// A container removed a moment ago may still hold an endpoint.
			if attempt < 50 && strings.Contains(err.Error(), "active endpoints") {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if strings.Contains(err.Error(), "active endpoints") {
				// Docker 20.10 sometimes keeps an endpoint count of a
				// network whose containers are all gone; only a daemon
				// restart clears it.
				return fmt.Errorf("remove network %s: %w (no container is on it: a stale endpoint in the Docker daemon, which a daemon restart clears)", nets[i].Name, err)
			}
			return fmt.Errorf("remove network %s: %w", nets[i].Name, err)
		}
	})
	r.Networks = int(removed.Load())
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return r, errors.Join(nerr, fmt.Errorf("list volumes: %w", err))
	}
	var verr []error
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			verr = append(verr, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		r.Volumes++
	}
	return r, errors.Join(append([]error{nerr}, verr...)...)
}
