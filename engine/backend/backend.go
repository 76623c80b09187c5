// Package backend defines how the engine provisions and drives each team's
// plant, whatever runs it: in-process PLCs, Docker containers or
// Terraform-made infrastructure.
package backend

import (
	"context"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
)

// Plan is what to provision: the same plant for every team.
type Plan struct {
	ExerciseID string
	DataDir    string
	Seed       uint64
	Teams      []string
	Zones      []string
	Conduits   []Conduit
	PLCs       []PLC
	Hosts      []Host
}

// Conduit is an allowed flow between zones; no ports means any port.
type Conduit struct {
	From, To string
	Ports    []int
}

// Allows reports whether the conduit passes a TCP port.
func (c Conduit) Allows(port int) bool {
	if len(c.Ports) == 0 {
		return true
	}
	for _, p := range c.Ports {
		if p == port {
			return true
		}
	}
	return false
}

// PLC is one PLC of the plant.
type PLC struct {
	ID     string
	Model  string
	Zone   string
	Params plantsim.Params
	UnitID byte
	Scan   time.Duration
	Noise  float64
	// FrameTimeout is the Modbus server's frame deadline; 0 for
	// plantsim.DefaultFrameTimeout.
	FrameTimeout time.Duration
}

// Host is a non-PLC host.
type Host struct {
	ID      string
	Role    string
	Zone    string
	Address string
}

// Step is provisioning progress.
type Step struct {
	Team  string
	What  string // "plc intake", "network control"
	State string // created, started, healthy
	Done  int
	Total int
}

// Endpoint is where a team's PLC can be reached.
type Endpoint struct {
	Team   string `json:"team"`
	PLC    string `json:"plc"`
	Model  string `json:"model"`
	Modbus string `json:"modbus"`         // host:port trainees' tools use
	UnitID byte   `json:"unit_id"`        //
	Mgmt   string `json:"mgmt,omitempty"` // management API, engine only
	// Engine is where the engine itself dials the PLC's Modbus (forwarded
	// sessions) when that is not Modbus: an address from which the PLC
	// sees the engine's own source address and port, so the traffic log
	// can attribute the session (a Docker published port hides them
	// behind docker-proxy).
	Engine string `json:"-"`
}

// Backend provisions plants.
type Backend interface {
	// Provision makes every team's plant and returns when all PLCs answer.
	Provision(ctx context.Context, plan Plan, progress func(Step)) (Deployment, error)
	// Recover re-attaches to a deployment from its saved state after an
	// engine restart.
	Recover(ctx context.Context, plan Plan, saved []byte) (Deployment, error)
	// Destroy removes everything of the exercise; it is idempotent.
	Destroy(ctx context.Context, exerciseID string) error
}

// Deployment is a provisioned exercise.
type Deployment interface {
	// Endpoints lists every team's PLCs.
	Endpoints() []Endpoint
	// Advance drives every plant to exercise time t; the engine calls it
	// every tick so pausing the exercise pauses the physics.
	Advance(ctx context.Context, t time.Duration) error
	// Read fills v with one PLC's current values.
	Read(team, plc string, v *plantsim.Values) error
	// Do applies an effect to a team's plant and says what happened.
	Do(ctx context.Context, team string, e Effect) (Result, error)
	// Snapshot saves plant state for a later Restore (resume after a crash).
	Snapshot() ([]byte, error)
	// Restore loads plant state saved by Snapshot.
	Restore(data []byte) error
	// Saved is what Recover needs to re-attach.
	Saved() []byte
	// Capture returns a PLC's Modbus transactions and audit entries after
	// seq, for the traffic log.
	Capture(ctx context.Context, team, plc string, after uint64) (plantsim.Capture, error)
	// Attribute tells a PLC who the client at remote (ip:port) really is,
	// before that client's first request: the source its traffic shows.
	Attribute(ctx context.Context, team, plc, remote, source, note string) error
	// Close releases the deployment's resources in this process; it does
	// not destroy infrastructure that outlives the engine.
	Close() error
}

// HostAddresser is implemented by deployments whose hosts have per-team
// addresses of their own instead of the scenario's (Docker: every team's
// zones are distinct subnets, so team-1's attacker is 10.128.0.66 where
// the scenario says 10.20.1.66). The engine uses it to accept an answer
// that names a host by the address the team's own evidence shows.
type HostAddresser interface {
	HostAddress(team, host string) string
}

// PacketSource is implemented by deployments whose PLCs may capture the
// real packets at their own interfaces (the Docker backend's containers
// run with --capture). A PLC that captures nothing (in the engine's
// process, or started without --capture) answers capture.ErrOff.
type PacketSource interface {
	// Packets returns up to max of a PLC's captured packets after seq
	// (max 0: the PLC's default page).
	Packets(ctx context.Context, team, plc string, after uint64, max int) (capture.Page, error)
}

// Result says what an effect did, for the event log and the debrief.
type Result struct {
	// Outcome is "ok", or "blocked" when the network stopped it.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}
