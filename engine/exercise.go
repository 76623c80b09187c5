// Package engine runs exercises: the lifecycle, one exercise clock for
// injects, physics and scoring, the scheduler, scoring rules and the event
// log every state change goes through.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/buildinfo"
	"github.com/icsrange/icsrange/internal/token"
)

// Tick is the exercise clock's step: physics, injects and scoring advance
// together every 100 ms of exercise time, whatever the speed.
const Tick = 100 * time.Millisecond

// Files in a data dir.
const (
	EventsFile    = "events.db"
	EndpointsFile = "endpoints.json"
)

// MetaSettings is the metadata key of the settings the exercise is served
// and run with (Config.Settings), for whoever starts it again.
const MetaSettings = "settings"

// Errors New and Open return for a data dir in the wrong state; callers
// say what to do instead.
var (
	ErrExists = errors.New("the data dir already holds an exercise")
	ErrEnded  = errors.New("the exercise has ended")
)

// Config creates an exercise.
type Config struct {
	Scenario     *scenario.Scenario
	ScenarioYAML []byte // kept in the log so a resume runs the same scenario
	ScenarioPath string
	Teams        []string
	DataDir      string
	Backend      backend.Backend
	BackendName  string
	Seed         uint64 // 0 = random
	Progress     func(backend.Step)
	// TrafficCap is the rows each PLC's traffic log keeps in full before
	// only summaries (default DefaultTrafficCap).
	TrafficCap int
	// Settings is how the caller serves and runs the exercise (JSON, the
	// engine does not read it), kept under MetaSettings so a resume can
	// serve and run it the same way.
	Settings []byte
}

// Exercise is one run of a scenario. Its methods are safe for concurrent
// use; one mutex orders ticks and commands, so every command sees a
// consistent state and is committed before it returns.
type Exercise struct {
	mu    sync.Mutex
	sc    *scenario.Scenario
	id    string
	dir   string
	store *store.Store
	dep   backend.Deployment
	state *State
	clock time.Duration
	rt    map[string]*teamRT
	// budget times the rules and, in a real-time run, slows the ones
	// that cost more than the tick can spare.
	budget *ruleBudget
	feed   *Feed
	auth   auth
	err    error // a failed commit stops the exercise

	trafficCap int
	holdsSeq   int64 // the last event seq when the for: timers were saved

	tokens Tokens // plaintext, only in a fresh exercise
}

var teamNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// ValidateTeams checks team names against the scenario's limits.
func ValidateTeams(sc *scenario.Scenario, teams []string) error {
	if len(teams) < sc.MinTeams || len(teams) > sc.MaxTeams {
		return fmt.Errorf("scenario %s takes %d..%d teams, got %d", sc.Spec.ID, sc.MinTeams, sc.MaxTeams, len(teams))
	}
	seen := map[string]bool{}
	for _, t := range teams {
		if !teamNameRe.MatchString(t) {
			return fmt.Errorf("team name %q: use 1–32 letters, digits, _, . and -", t)
		}
		if seen[t] {
			return fmt.Errorf("team %q given twice", t)
		}
		seen[t] = true
	}
	return nil
}

// New creates an exercise in cfg.DataDir (which must not hold one already),
// provisions every team's plant and writes tokens and endpoints there.
func New(ctx context.Context, cfg Config) (*Exercise, error) {
	sc := cfg.Scenario
	if err := ValidateTeams(sc, cfg.Teams); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, EventsFile)
	if _, err := os.Stat(dbPath); err == nil {
		return nil, fmt.Errorf("%s: %w", cfg.DataDir, ErrExists)
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	idb := make([]byte, 6)
	rand.Read(idb)
	id := sc.Spec.ID + "-" + hex.EncodeToString(idb)

	st, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	x := &Exercise{sc: sc, id: id, dir: cfg.DataDir, store: st, state: NewState(sc.Topology), feed: newFeed(), trafficCap: cfg.TrafficCap}
	if x.trafficCap <= 0 {
		x.trafficCap = DefaultTrafficCap
	}
	fail := func(err error) (*Exercise, error) {
		if x.dep != nil {
			x.dep.Close()
			cfg.Backend.Destroy(context.Background(), id)
		}
		st.Close()
		return nil, err
	}
	x.tokens = newTokens(cfg.Teams)
	x.auth = auth{instructor: token.HashOf(x.tokens.Instructor), teams: map[string]token.Hash{}}
	meta := map[string]string{
		"exercise_id": id, "scenario_path": cfg.ScenarioPath, "scenario_yaml": string(cfg.ScenarioYAML),
		"backend": cfg.BackendName, "seed": fmt.Sprint(seed), "created": time.Now().UTC().Format(time.RFC3339),
		"traffic_cap":      fmt.Sprint(x.trafficCap),
		"token.instructor": x.auth.instructor.String(),
	}
	// The build that made the exercise, for the report: a resumed or
	// re-reported exercise may be read by another release.
	if b, err := json.Marshal(buildinfo.Get()); err == nil {
		meta["build"] = string(b)
	}
	for _, t := range cfg.Teams {
		h := token.HashOf(x.tokens.Teams[t])
		x.auth.teams[t] = h
		meta["token.team."+t] = h.String()
	}
	tb, _ := json.Marshal(cfg.Teams)
	meta["teams"] = string(tb)
	if len(cfg.Settings) > 0 {
		meta[MetaSettings] = string(cfg.Settings)
	}
	if err := st.SetMeta(ctx, meta); err != nil {
		return fail(err)
	}
	dep, err := cfg.Backend.Provision(ctx, x.plan(id, seed, cfg.Teams), cfg.Progress)
	if err != nil {
		return fail(fmt.Errorf("provision: %w", err))
	}
	x.dep = dep
	if err := st.SetMeta(ctx, map[string]string{"deployment": string(dep.Saved())}); err != nil {
		return fail(err)
	}
	if err := writeTokens(cfg.DataDir, x.tokens); err != nil {
		return fail(err)
	}
	if err := x.writeEndpoints(); err != nil {
		return fail(err)
	}
	x.initRuntime(cfg.Teams)
	if err := x.emit(ctx, "", EvCreated, CreatedData{Scenario: sc.Spec.ID, Title: sc.Spec.Title.En,
		Teams: cfg.Teams, Seed: seed, Backend: cfg.BackendName}); err != nil {
		return fail(err)
	}
	if err := x.checkpoint(ctx); err != nil {
		return fail(err)
	}
	return x, nil
}

func (x *Exercise) plan(id string, seed uint64, teams []string) backend.Plan {
	return backend.Plan{ExerciseID: id, Scenario: x.sc.Spec.ID, DataDir: x.dir, Seed: seed, Teams: teams, Topology: x.sc.Topology}
}

func (x *Exercise) writeEndpoints() error {
	b, err := json.MarshalIndent(map[string]any{"exercise": x.id, "plcs": publicEndpoints(x.dep.Endpoints())}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(x.dir, EndpointsFile)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// publicEndpoints strips management addresses, which trainees never get.
func publicEndpoints(eps []backend.Endpoint) []backend.Endpoint {
	out := make([]backend.Endpoint, len(eps))
	for i, e := range eps {
		e.Mgmt = ""
		out[i] = e
	}
	return out
}

// Open continues an exercise from its data dir after the engine stopped,
// however it stopped: it replays the log, re-attaches the plants, restores
// their last checkpoint and carries on at the exercise time it reached.
// Downtime is not exercise time.
func Open(ctx context.Context, dir string, b backend.Backend, loadScenario func(path string, yaml []byte) (*scenario.Scenario, error)) (*Exercise, error) {
	dbPath := filepath.Join(dir, EventsFile)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no exercise in %s: %w", dir, err)
	}
	st, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Exercise, error) {
		st.Close()
		return nil, err
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return fail(err)
	}
	sc, err := loadScenario(meta["scenario_path"], []byte(meta["scenario_yaml"]))
	if err != nil {
		return fail(fmt.Errorf("load the exercise's scenario: %w", err))
	}
	var teams []string
	if err := json.Unmarshal([]byte(meta["teams"]), &teams); err != nil {
		return fail(fmt.Errorf("read teams: %w", err))
	}
	x := &Exercise{sc: sc, id: meta["exercise_id"], dir: dir, store: st, state: NewState(sc.Topology), feed: newFeed(), trafficCap: DefaultTrafficCap}
	fmt.Sscan(meta["traffic_cap"], &x.trafficCap)
	x.auth = auth{teams: map[string]token.Hash{}}
	if x.auth.instructor, err = token.ParseHash(meta["token.instructor"]); err != nil {
		return fail(err)
	}
	for _, t := range teams {
		if x.auth.teams[t], err = token.ParseHash(meta["token.team."+t]); err != nil {
			return fail(err)
		}
	}
	// Replaying, check what the log keeps with each event against what
	// this engine would: a log from before scores and audiences were kept,
	// or from rules since changed, is brought up to date once.
	var last time.Time
	var stale []store.Event
	if err := st.Events(ctx, store.Filter{}, func(e store.Event) error {
		last = e.Time
		want := e
		if err := x.annotate(&want); err != nil {
			return err
		}
		if want.Public != e.Public || want.TeamSees != e.TeamSees || want.Score != e.Score {
			stale = append(stale, want)
		}
		return x.state.Apply(e)
	}); err != nil {
		return fail(fmt.Errorf("replay the event log: %w", err))
	}
	if len(stale) > 0 {
		if err := st.Annotate(ctx, stale); err != nil {
			return fail(err)
		}
	}
	if x.state.Phase == PhaseEnded {
		return fail(fmt.Errorf("%s: %w", dir, ErrEnded))
	}
	var seed uint64
	fmt.Sscan(meta["seed"], &seed)
	dep, err := b.Recover(ctx, x.plan(x.id, seed, teams), []byte(meta["deployment"]))
	if err != nil {
		return fail(fmt.Errorf("re-attach plants: %w", err))
	}
	x.dep = dep
	// The clock goes on from the latest of the last event, the plant
	// checkpoint and the saved for: timers: what happened since is replayed
	// by the ticks (the physics are a function of the clock and the effects,
	// and every effect is followed by a checkpoint).
	x.clock = x.state.Clock
	holdsClock, holds, err := st.Holds(ctx)
	switch {
	case errors.Is(err, store.ErrNoCheckpoint):
	case err != nil:
		dep.Close()
		return fail(err)
	default:
		x.clock = max(x.clock, holdsClock)
	}
	ckClock, saved, err := st.Checkpoint(ctx)
	switch {
	case errors.Is(err, store.ErrNoCheckpoint):
	case err != nil:
		dep.Close()
		return fail(err)
	default:
		if err := dep.Restore(saved); err != nil {
			dep.Close()
			return fail(fmt.Errorf("restore plant checkpoint: %w", err))
		}
		x.clock = max(x.clock, ckClock)
	}
	x.clock = x.clock.Truncate(Tick)
	if err := dep.Advance(ctx, x.clock); err != nil {
		dep.Close()
		return fail(err)
	}
	x.initRuntime(teams)
	if err := x.restoreHolds(holds); err != nil {
		dep.Close()
		return fail(err)
	}
	x.holdsSeq = x.state.LastSeq
	if err := x.restoreTraffic(ctx, meta); err != nil {
		dep.Close()
		return fail(err)
	}
	// Network state lives in the backend; put back what the log says: a
	// backend comes back with every host running and connected. An
	// exercise that can't have its isolation back does not go on without.
	for _, t := range teams {
		for _, e := range x.state.Team[t].Net.Restore() {
			if _, err := dep.Do(ctx, t, e); err != nil {
				dep.Close()
				return fail(fmt.Errorf("team %s: put back %s: %w", t, e, err))
			}
		}
	}
	if err := x.writeEndpoints(); err != nil {
		dep.Close()
		return fail(err)
	}
	if err := x.emit(ctx, "", EvRecovered, RecoveredData{DowntimeMS: time.Since(last).Milliseconds()}); err != nil {
		dep.Close()
		return fail(err)
	}
	return x, nil
}

// ID is the exercise id.
func (x *Exercise) ID() string { return x.id }

// Scenario is the exercise's scenario.
func (x *Exercise) Scenario() *scenario.Scenario { return x.sc }

// Dir is the data dir.
func (x *Exercise) Dir() string { return x.dir }

// Store is the event log, for readers such as reports.
func (x *Exercise) Store() *store.Store { return x.store }

// Feed is the live event feed.
func (x *Exercise) Feed() *Feed { return x.feed }

// Tokens returns the plaintext tokens of a newly created exercise (empty
// after a resume: only hashes are kept).
func (x *Exercise) Tokens() Tokens { return x.tokens }

// Who authenticates a token.
func (x *Exercise) Who(tok string) (Role, string) { return x.auth.who(tok) }

// Endpoints lists the PLC endpoints trainees may use.
func (x *Exercise) Endpoints() []backend.Endpoint { return publicEndpoints(x.dep.Endpoints()) }

// Deployment is the backend deployment (for tests and operator tools).
func (x *Exercise) Deployment() backend.Deployment { return x.dep }

// Clock returns the exercise clock and phase.
func (x *Exercise) Clock() (time.Duration, Phase) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.clock, x.state.Phase
}

// Close checkpoints the plants and releases the deployment and the log.
// The infrastructure of backends that outlive the engine stays up.
func (x *Exercise) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	if x.state.Phase != PhaseEnded && x.err == nil {
		errs = append(errs, x.checkpoint(context.Background()))
	}
	x.feed.Close()
	errs = append(errs, x.dep.Close(), x.store.Close())
	return errors.Join(errs...)
}

// Destroy removes the deployment's infrastructure (for backends where it
// outlives the process).
func (x *Exercise) Destroy(ctx context.Context, b backend.Backend) error {
	return b.Destroy(ctx, x.id)
}

// storeFailed stops the exercise after a write to its store failed, unless
// the write failed because ctx ended (Ctrl-C while a tick was writing):
// nothing was committed then, and a resume goes on from what was.
func (x *Exercise) storeFailed(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	x.err = fmt.Errorf("%s failed, exercise stopped: %w", what, err)
	return x.err
}

// emit commits an event, folds it into the state and then publishes it.
func (x *Exercise) emit(ctx context.Context, team, kind string, data any) error {
	if x.err != nil {
		return x.err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	ev := &store.Event{Time: time.Now(), Clock: x.clock, Team: team, Kind: kind, Data: b}
	if err := x.annotate(ev); err != nil {
		return err
	}
	if err := x.store.Append(ctx, ev); err != nil {
		// Without the log there is no truth to go on: stop rather than
		// run on state nobody can replay.
		return x.storeFailed(ctx, "event log", err)
	}
	if err := x.state.Apply(*ev); err != nil {
		x.err = err
		return err
	}
	x.feed.Publish(Update{Event: *ev, Score: ev.Score})
	return nil
}

// annotate sets what the log keeps with an event beside its payload: who
// may see it and its team's score after it (the state's score, not yet
// folded, plus the event's change).
func (x *Exercise) annotate(ev *store.Event) error {
	ev.Public, ev.TeamSees = Audience(x.sc, *ev)
	ev.Score = 0
	if ts := x.state.Team[ev.Team]; ts != nil {
		points, err := ScoreChange(*ev)
		if err != nil {
			return err
		}
		ev.Score = ts.Score + points
	}
	return nil
}

// checkpoint saves the for: timers, then the plants. In that order: if the
// engine dies in between, the timers are the newer and the resume goes on
// from their time, advancing the older plants to it.
func (x *Exercise) checkpoint(ctx context.Context) error {
	if err := x.saveHolds(ctx); err != nil {
		return err
	}
	b, err := x.dep.Snapshot()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return x.store.SaveCheckpoint(ctx, x.clock, b)
}

// saveHolds saves when each for: rule started holding, per team, at the
// current exercise time.
func (x *Exercise) saveHolds(ctx context.Context) error {
	holds := make(map[string]map[string]time.Duration, len(x.rt))
	for name, rt := range x.rt {
		if len(rt.since) > 0 {
			holds[name] = rt.since
		}
	}
	b, err := json.Marshal(holds)
	if err != nil {
		return fmt.Errorf("save for: timers: %w", err)
	}
	if err := x.store.SaveHolds(ctx, x.clock, b); err != nil {
		return x.storeFailed(ctx, "event log", err)
	}
	x.holdsSeq = x.state.LastSeq
	return nil
}

// restoreHolds puts back the saved for: timers of the teams' pending
// objectives.
func (x *Exercise) restoreHolds(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var holds map[string]map[string]time.Duration
	if err := json.Unmarshal(b, &holds); err != nil {
		return fmt.Errorf("read for: timers: %w", err)
	}
	for name, since := range holds {
		rt, ts := x.rt[name], x.state.Team[name]
		if rt == nil || ts == nil {
			continue
		}
		for id, at := range since {
			if _, ok := x.sc.Objective(id); !ok {
				continue
			}
			if os := ts.Objectives[id]; os != nil && os.Status != StatusPending {
				continue
			}
			rt.since[id] = at
		}
	}
	return nil
}

// SetTrafficCap changes the rows each PLC's traffic log keeps in full (a
// resume told another cap) and keeps the cap with the exercise.
func (x *Exercise) SetTrafficCap(ctx context.Context, n int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n <= 0 {
		n = DefaultTrafficCap
	}
	if err := x.store.SetMeta(ctx, map[string]string{"traffic_cap": fmt.Sprint(n)}); err != nil {
		return err
	}
	x.trafficCap = n
	return nil
}

// SaveSettings replaces the settings kept under MetaSettings.
func (x *Exercise) SaveSettings(ctx context.Context, b []byte) error {
	return x.store.SetMeta(ctx, map[string]string{MetaSettings: string(b)})
}

// Checkpoint saves the plants' state now.
func (x *Exercise) Checkpoint(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.checkpoint(ctx)
}
