package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/internal/workpool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Exercise is one exercise's plants as the Docker daemon holds them, found
// by label alone: what icsrange ps lists, data dir or not.
type Exercise struct {
	ID       string   `json:"id"`
	Scenario string   `json:"scenario"`
	Teams    []string `json:"teams"`
	// Containers and Running count every container of the exercise and
	// those running.
	Containers int `json:"containers"`
	Running    int `json:"running"`
	Networks   int `json:"networks"`
	Volumes    int `json:"volumes"`
	// Created is when its first container or network was made.
	Created time.Time `json:"created"`
	Engine  Engine    `json:"engine"`
}

// Engine states.
const (
	EngineAttached = "attached" // an engine renewed the lease within LeaseTTL
	EngineDetached = "detached" // released, expired, never taken, or no PLC runs
	EngineUnknown  = "unknown"  // no PLC of the exercise answered the question
)

// Engine says whether an engine drives the exercise, from the lease on one
// of its running PLCs (see lease.go).
type Engine struct {
	State string `json:"state"`
	// LeaseAgeMS is the time since the engine last advanced or renewed the
	// PLC asked; -1 when it never did or no PLC answered.
	LeaseAgeMS int64 `json:"lease_age_ms"`
	// ClockMS is the exercise time the PLC was advanced to.
	ClockMS int64  `json:"clock_ms"`
	Detail  string `json:"detail"`
}

// List finds every exercise on the daemon by the presence of the
// icsrange.exercise label, whatever made it and whether or not its data
// dir still exists, and asks each whether an engine is attached. Sorted by
// creation, oldest first.
func (b *Backend) List(ctx context.Context) ([]Exercise, error) {
	cli, release, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	f := filters.NewArgs(filters.Arg("label", LabelExercise))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := group(cs, ns, vs.Volumes)
	byID := map[string][]container.Summary{}
	for _, c := range cs {
		byID[c.Labels[LabelExercise]] = append(byID[c.Labels[LabelExercise]], c)
	}
	workpool.All(ctx, len(out), b.workers(), func(i int) error {
		out[i].Engine = engineOf(ctx, cli, byID[out[i].ID])
		return nil
	})
	return out, ctx.Err()
}

// exerciseSuffix is the random part of an exercise id after its scenario's.
var exerciseSuffix = regexp.MustCompile(`-[0-9a-f]{12}$`)

// group folds the labelled resources into exercises.
func group(cs []container.Summary, ns []network.Summary, vs []*volume.Volume) []Exercise {
	byID := map[string]*Exercise{}
	teams := map[string]map[string]bool{}
	of := func(labels map[string]string, created time.Time) *Exercise {
		id := labels[LabelExercise]
		x := byID[id]
		if x == nil {
			x = &Exercise{ID: id}
			byID[id] = x
			teams[id] = map[string]bool{}
		}
		if x.Scenario == "" {
			x.Scenario = labels[LabelScenario]
		}
		if t := labels[LabelTeam]; t != "" {
			teams[id][t] = true
		}
		if !created.IsZero() && (x.Created.IsZero() || created.Before(x.Created)) {
			x.Created = created
		}
		return x
	}
	for _, c := range cs {
		x := of(c.Labels, time.Unix(c.Created, 0))
		x.Containers++
		if c.State == "running" {
			x.Running++
		}
	}
	for _, n := range ns {
		of(n.Labels, n.Created).Networks++
	}
	for _, v := range vs {
		created, _ := time.Parse(time.RFC3339, v.CreatedAt)
		of(v.Labels, created).Volumes++
	}
	out := make([]Exercise, 0, len(byID))
	for id, x := range byID {
		if x.Scenario == "" {
			// Made before the scenario label: the id starts with it.
			x.Scenario = exerciseSuffix.ReplaceAllString(id, "")
		}
		x.Teams = make([]string, 0, len(teams[id]))
		for t := range teams[id] {
			x.Teams = append(x.Teams, t)
		}
		sort.Strings(x.Teams)
		x.Created = x.Created.UTC()
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// engineAsks bounds the PLCs asked about the lease when the first do not
// answer.
const engineAsks = 3

// engineOf asks the exercise's running PLCs, in team and id order, until
// one answers whether an engine holds the lease. It reaches the PLC's
// management API where Docker published it, as the engine does, with the
// token read from the exercise's token volume through the Docker API: so
// it works with the data dir gone, and from any machine that reaches the
// published ports (a remote daemon's too).
func engineOf(ctx context.Context, cli *client.Client, cs []container.Summary) Engine {
	var plcs []container.Summary
	for _, c := range cs {
		if c.Labels[LabelRole] == RolePLC && c.State == "running" {
			plcs = append(plcs, c)
		}
	}
	if len(plcs) == 0 {
		return Engine{State: EngineDetached, LeaseAgeMS: -1, Detail: "no PLC container runs"}
	}
	sort.Slice(plcs, func(i, j int) bool {
		a, b := plcs[i].Labels, plcs[j].Labels
		if a[LabelTeam] != b[LabelTeam] {
			return a[LabelTeam] < b[LabelTeam]
		}
		return a[LabelID] < b[LabelID]
	})
	var errs []string
	tok := ""
	for _, c := range plcs[:min(len(plcs), engineAsks)] {
		who := c.Labels[LabelTeam] + "/" + c.Labels[LabelID]
		addr, err := mgmtAddr(cli, c)
		if err == nil && tok == "" {
			tok, err = readToken(ctx, cli, c.ID)
		}
		if err != nil {
			errs = append(errs, who+": "+err.Error())
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, leaseCall)
		s, err := plantsim.NewMgmtClient(addr, tok).Lease(cctx)
		cancel()
		if errors.Is(err, plantsim.ErrNoLease) {
			return Engine{State: EngineUnknown, LeaseAgeMS: -1, Detail: "its PLCs run an icsrange from before the engine lease"}
		}
		if err != nil {
			errs = append(errs, who+": "+err.Error())
			continue
		}
		return engineFrom(s)
	}
	return Engine{State: EngineUnknown, LeaseAgeMS: -1, Detail: "no PLC answered: " + strings.Join(errs, "; ")}
}

// engineFrom reads a PLC's lease.
func engineFrom(s plantsim.LeaseStatus) Engine {
	e := Engine{State: EngineDetached, LeaseAgeMS: s.AgoMS, ClockMS: s.ClockMS}
	age := s.Age().Round(100 * time.Millisecond)
	switch {
	case s.HeldWithin(LeaseTTL):
		e.State = EngineAttached
		e.Detail = "lease renewed " + age.String() + " ago"
	case s.AgoMS < 0:
		e.Detail = "no engine ever drove its PLCs"
	case s.Released:
		e.Detail = "its engine let go " + age.Round(time.Second).String() + " ago"
	default:
		e.Detail = "its engine vanished " + age.Round(time.Second).String() + " ago"
	}
	return e
}

// mgmtAddr is where this process reaches a PLC container's management API
// (the IPv4 binding when Docker lists an IPv6 one as well).
func mgmtAddr(cli *client.Client, c container.Summary) (string, error) {
	private, _ := strconv.Atoi(strings.TrimSuffix(portMgmt, "/tcp"))
	var best *container.Port
	for i := range c.Ports {
		p := &c.Ports[i]
		if int(p.PrivatePort) != private || p.Type != "tcp" || p.PublicPort == 0 {
			continue
		}
		if best == nil || strings.Contains(p.IP, ".") && !strings.Contains(best.IP, ".") {
			best = p
		}
	}
	if best == nil {
		return "", errors.New("its management port is not published")
	}
	ip, err := netip.ParseAddr(best.IP)
	if err != nil {
		return "", fmt.Errorf("its management port is published on %q: %w", best.IP, err)
	}
	host, err := dialHost(ip, daemonHost(cli))
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(best.PublicPort))), nil
}

// maxToken bounds the token file read from a container.
const maxToken = 4 << 10

// readToken reads the management token from the exercise's token volume,
// mounted in every container: Docker API access is what it takes, the
// same as removing the containers.
func readToken(ctx context.Context, cli *client.Client, id string) (string, error) {
	rc, _, err := cli.CopyFromContainer(ctx, id, TokenPath)
	if err != nil {
		return "", fmt.Errorf("read the management token: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("read the management token: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxToken))
		if err != nil {
			return "", fmt.Errorf("read the management token: %w", err)
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", errors.New("the management token is empty")
	}
}
