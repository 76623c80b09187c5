package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/docker"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/backend/terraform"
	"github.com/icsrange/icsrange/engine/report"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/scoreboard"
	"golang.org/x/term"
)

// listFlag collects repeated string flags.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type runOptions struct {
	runSettings // how it is served and run: kept for --resume
	file        string
	teams       int
	names       listFlag
	backend     string
	data        string
	resume      bool
	seed        uint64
	url         string
	trafCap     int
	bar         *spinup // provisioning progress and the backend's log lines
}

// flags puts run's flags on fs.
func (o *runOptions) flags(fs *flag.FlagSet) {
	o.runSettings.define(fs)
	fs.IntVar(&o.teams, "teams", 0, "number of teams, named team-1..team-N")
	fs.Var(&o.names, "team", "team name (repeatable); instead of --teams")
	fs.StringVar(&o.backend, "backend", "inproc", "where plants run: inproc (in this process), docker (containers on isolated networks; DOCKER_HOST) or terraform (--tf-module)")
	fs.IntVar(&o.trafCap, "traffic-cap", engine.DefaultTrafficCap, "transactions each PLC's traffic log keeps in full; past it, one summary row per burst (kept with the exercise)")
	fs.StringVar(&o.data, "data", "", "data dir for the event log, tokens and report (default ./runs/<scenario>-<time>)")
	fs.BoolVar(&o.resume, "resume", false, "continue the exercise in --data after the engine stopped, served and run as it was started (flags given again override)")
	fs.Uint64Var(&o.seed, "seed", 0, "noise seed (default random)")
}

func (m *Main) runRun(ctx context.Context, args []string) error {
	fs := m.newFlags("run", "FILE [--teams N | --team NAME ...] [flags]  |  run --resume --data DIR")
	o := runOptions{runSettings: defaultRunSettings()}
	o.flags(fs)
	// Let the scenario file come before or after the flags.
	var rest []string
	for len(args) > 0 {
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.resume {
		if o.data == "" || len(rest) > 0 {
			return usageErr("--resume takes --data DIR and no scenario file")
		}
		if err := resumeSettings(ctx, &o, set); err != nil {
			return err
		}
	}
	if o.Speed <= 0 || o.Speed > 100000 {
		return usageErr("--speed %g is outside (0, 100000]", o.Speed)
	}
	if o.Start != "now" && o.Start != "manual" {
		return usageErr("--start must be now or manual")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return usageErr("--tls-cert and --tls-key go together")
	}
	if err := o.absolute(); err != nil {
		return err
	}
	o.bar = newSpinup(m.Stdout)
	be, err := m.backend(o)
	if err != nil {
		return err
	}
	if o.trafCap < 100 {
		return usageErr("--traffic-cap %d: keep at least 100 transactions per PLC", o.trafCap)
	}
	if o.Expose != "" && o.backend != "docker" {
		return usageErr("--expose is for --backend docker")
	}
	if o.backend == "terraform" && !o.resume && o.TFModule == "" {
		return usageErr("--backend terraform needs --tf-module DIR")
	}
	// Listen before provisioning so a busy port fails fast.
	ln, err := listenScoreboard(o.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()

	var x *engine.Exercise
	if o.resume {
		x, err = engine.Open(ctx, o.data, be, loadScenarioText)
		if errors.Is(err, engine.ErrEnded) {
			return fmt.Errorf("the exercise in %s has ended; its report: %s", o.data, reportCommand(o.data))
		}
		if err != nil {
			return err
		}
		defer x.Close()
		if err := m.saveResumed(ctx, x, o, set); err != nil {
			return err
		}
	} else {
		if len(rest) != 1 {
			return usageErr("give one scenario file")
		}
		o.file = rest[0]
		x, err = m.create(ctx, o, be)
		if errors.Is(err, engine.ErrExists) {
			return fmt.Errorf("%s already holds an exercise; continue it with %s, or pick another --data dir", o.data, resumeCommand(o.data))
		}
		if err != nil {
			return err
		}
		defer x.Close()
	}
	if tb, ok := be.(*terraform.Backend); ok {
		tb.DataDir = x.Dir()
	}
	perAddr := o.PublicPerAddr
	if perAddr <= 0 {
		perAddr = -1 // no bound
	}
	sb := scoreboard.New(x, scoreboard.Options{Origins: o.Origins, PublicPerAddr: perAddr, Report: func(ctx context.Context, format string, w io.Writer) (string, error) {
		r, err := report.Build(ctx, x.Store())
		if err != nil {
			return "", err
		}
		return report.ContentType(format), r.Write(w, format)
	}})
	sctx, stopServer := context.WithCancel(context.Background())
	var serveWG sync.WaitGroup
	serveWG.Go(func() { sb.Start(sctx) })
	serveWG.Go(func() {
		if err := sb.ListenAndServe(sctx, ln, o.TLSCert, o.TLSKey); err != nil {
			fmt.Fprintf(m.Stderr, "scoreboard: %v\n", err)
		}
	})
	defer func() {
		stopServer()
		serveWG.Wait()
	}()
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
	}
	o.url = fmt.Sprintf("%s://%s", scheme, ln.Addr())
	m.printSummary(x, o)

	// --start now also starts an exercise whose engine died before it did.
	if _, phase := x.Clock(); phase == engine.PhaseCreated && o.Start == "now" {
		if err := x.Start(ctx, "operator"); err != nil {
			return err
		}
	}
	if _, phase := x.Clock(); phase == engine.PhaseCreated {
		fmt.Fprintf(m.Stdout, "Waiting for the instructor to start the exercise.\n")
	}

	prog := newProgress(m.Stdout, x)
	stopProg := prog.start()
	runErr := x.Run(ctx, o.Speed)
	stopProg()
	switch {
	case errors.Is(runErr, context.Canceled):
		if err := x.Checkpoint(context.Background()); err != nil {
			return err
		}
		m.printStopped(x, o)
		return nil
	case runErr != nil:
		return runErr
	}
	m.printFinal(x)
	files, err := writeReports(context.Background(), x)
	if err != nil {
		return fmt.Errorf("after-action report: %w", err)
	}
	fmt.Fprintf(m.Stdout, "\nAfter-action report: %s\n", strings.Join(files, ", "))
	m.linger(ctx, o)
	if o.backend != "inproc" {
		if o.Keep {
			fmt.Fprintf(m.Stdout, "Plants kept (--keep); remove them with: %s\n", downCommand(x.Dir()))
			return nil
		}
		x.Close()
		if err := be.Destroy(context.Background(), x.ID()); err != nil {
			return fmt.Errorf("remove the plants: %w (retry with %s)", err, downCommand(x.Dir()))
		}
		fmt.Fprintf(m.Stdout, "Plants removed.\n")
	}
	return nil
}

// saveResumed keeps the settings a resume runs with, flags given on it
// included, for the next resume.
func (m *Main) saveResumed(ctx context.Context, x *engine.Exercise, o runOptions, set map[string]bool) error {
	if set["traffic-cap"] {
		if err := x.SetTrafficCap(ctx, o.trafCap); err != nil {
			return err
		}
	}
	b, err := json.Marshal(o.runSettings)
	if err != nil {
		return err
	}
	return x.SaveSettings(ctx, b)
}

// linger keeps the scoreboard serving the ended exercise, its final board,
// team views and report, until Ctrl-C or for --linger.
func (m *Main) linger(ctx context.Context, o runOptions) {
	switch {
	case o.Linger == 0:
		return
	case o.Linger < 0:
		fmt.Fprintf(m.Stdout, "The scoreboard keeps serving the final board, the team views and the report on %s/; Ctrl-C to stop.\n", o.url)
		<-ctx.Done()
		return
	}
	fmt.Fprintf(m.Stdout, "The scoreboard keeps serving the final board, the team views and the report on %s/ for %v (--linger); Ctrl-C to stop sooner.\n", o.url, o.Linger)
	t := time.NewTimer(o.Linger)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// printStopped tells the operator, after Ctrl-C, where the exercise is and
// how to go on.
func (m *Main) printStopped(x *engine.Exercise, o runOptions) {
	s := x.Summary()
	w := m.Stdout
	fmt.Fprintf(w, "\nStopped at %s of %s; the exercise has not ended.\n", engine.FormatDuration(s.Clock), engine.FormatDuration(s.Duration))
	fmt.Fprintf(w, "Its data (event log, plant checkpoint, tokens) is in %s.\n", x.Dir())
	fmt.Fprintf(w, "No after-action report was written yet. The report so far: %s\n", reportCommand(x.Dir()))
	fmt.Fprintf(w, "Continue, served and run as now: %s\n", resumeCommand(x.Dir()))
	if o.backend != "inproc" {
		fmt.Fprintf(w, "The plants are still up; remove them with: %s\n", downCommand(x.Dir()))
	}
}

// backend builds the chosen backend.
func (m *Main) backend(o runOptions) (backend.Backend, error) {
	switch o.backend {
	case "inproc":
		return &inproc.Backend{PortBase: o.PortBase}, nil
	case "docker":
		bar := m.spinupOf(o)
		return &docker.Backend{Expose: o.Expose, Log: terraform.NewLineWriter(func(line string) {
			bar.say("docker: " + line)
		})}, nil
	case "terraform":
		// The settings' paths are absolute (runSettings.absolute).
		return &terraform.Backend{Module: o.TFModule, Terraform: o.Terraform, DataDir: o.data, ReadyTimeout: o.TFReady,
			Log: terraform.NewLineWriter(func(line string) {
				// The whole log goes to DATA/terraform/terraform.log; the
				// terminal gets the progress lines.
				if terraform.IsProgress(line) {
					fmt.Fprintf(m.Stdout, "  terraform: %s\n", line)
				}
			})}, nil
	}
	return nil, usageErr("unknown backend %q (have inproc, docker, terraform)", o.backend)
}

// exerciseMeta reads one of an exercise's metadata from its event log:
// "backend" (a resumed exercise keeps the backend it was made with),
// "exercise_id" (the docker backend finds its containers by it).
func exerciseMeta(ctx context.Context, dir, key string) (string, error) {
	meta, err := readMeta(ctx, dir)
	if err != nil {
		return "", err
	}
	return meta[key], nil
}

func loadScenarioText(path string, yaml []byte) (*scenario.Scenario, error) {
	return scenario.Load(path, yaml)
}

func (m *Main) create(ctx context.Context, o runOptions, be backend.Backend) (*engine.Exercise, error) {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	sc, err := scenario.Load(o.file, data)
	if err != nil {
		var es scenario.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(m.Stderr, e.Error())
			}
			return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problems; fix them first (icsrange validate %s)", o.file, len(es), o.file)}
		}
		return nil, err
	}
	for _, w := range sc.Warnings {
		fmt.Fprintln(m.Stderr, w.Error())
	}
	teams := []string(o.names)
	switch {
	case len(teams) > 0 && o.teams > 0:
		return nil, usageErr("give --teams or --team, not both")
	case len(teams) == 0 && o.teams == 0:
		o.teams = sc.MinTeams
		fallthrough
	case len(teams) == 0:
		for i := 1; i <= o.teams; i++ {
			teams = append(teams, fmt.Sprintf("team-%d", i))
		}
	}
	if err := engine.ValidateTeams(sc, teams); err != nil {
		return nil, usageErr("%v", err)
	}
	if o.data == "" {
		o.data = filepath.Join("runs", sc.Spec.ID+"-"+time.Now().Format("20060102-150405"))
	}
	fmt.Fprintf(m.Stdout, "Provisioning %d teams × %d PLCs (%s)…\n", len(teams), len(sc.PLCs), o.backend)
	settings, err := json.Marshal(o.runSettings)
	if err != nil {
		return nil, err
	}
	bar := m.spinupOf(o)
	defer bar.finish()
	return engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: data, ScenarioPath: o.file, Teams: teams,
		DataDir: o.data, Backend: be, BackendName: o.backend, Seed: o.seed, Progress: bar.step, TrafficCap: o.trafCap,
		Settings: settings})
}

func (m *Main) printSummary(x *engine.Exercise, o runOptions) {
	sc := x.Scenario()
	s := x.Summary()
	w := m.Stdout
	fmt.Fprintf(w, "\n%s — %s\n", sc.Spec.Title.En, sc.Spec.Title.Ja)
	fmt.Fprintf(w, "exercise %s · %v · %d teams · speed ×%g\n\n", x.ID(), sc.Duration, len(s.Teams), o.Speed)
	byTeam := map[string][]backend.Endpoint{}
	var order []string
	for _, e := range x.Endpoints() {
		if _, ok := byTeam[e.Team]; !ok {
			order = append(order, e.Team)
		}
		byTeam[e.Team] = append(byTeam[e.Team], e)
	}
	fmt.Fprintf(w, "PLC endpoints (Modbus/TCP):\n")
	for _, t := range order {
		var parts []string
		for _, e := range byTeam[t] {
			parts = append(parts, fmt.Sprintf("%s=%s unit %d", e.PLC, e.Modbus, e.UnitID))
		}
		fmt.Fprintf(w, "  %-10s %s\n", t, strings.Join(parts, "   "))
	}
	fmt.Fprintf(w, "\nScoreboard:  %s/          (public, for the projector)\n", o.url)
	fmt.Fprintf(w, "Team view:   %s/team      (team token)\n", o.url)
	fmt.Fprintf(w, "Instructor:  %s/instructor (instructor token)\n", o.url)
	fmt.Fprintf(w, "\nData dir:    %s\n", x.Dir())
	fmt.Fprintf(w, "Tokens:      %s (mode 0600: instructor and one per team)\n", filepath.Join(x.Dir(), engine.TokensFile))
	// The operator hands these out: on the instructor's own terminal, with
	// the file for later.
	if tok := x.Tokens(); tok.Instructor != "" {
		fmt.Fprintf(w, "  instructor  %s\n", tok.Instructor)
		for _, t := range s.Teams {
			if v := tok.Teams[t.Name]; v != "" {
				fmt.Fprintf(w, "  %-10s  %s\n", t.Name, v)
			}
		}
	}
	fmt.Fprintf(w, "Endpoints:   %s\n", filepath.Join(x.Dir(), engine.EndpointsFile))
	fmt.Fprintf(w, "Ctrl-C stops the engine; continue with: %s\n\n", resumeCommand(x.Dir()))
}

func (m *Main) printFinal(x *engine.Exercise) {
	s := x.Summary()
	fmt.Fprintf(m.Stdout, "\nExercise ended at %s. Final ranking:\n", engine.FormatDuration(s.Clock))
	for _, t := range s.Teams {
		achieved := 0
		for _, st := range t.Objectives {
			if st == engine.StatusAchieved {
				achieved++
			}
		}
		fmt.Fprintf(m.Stdout, "  %2d. %-12s %6d points  %d/%d objectives  %d safety incidents\n",
			t.Rank, t.Name, t.Score, achieved, len(t.Objectives), t.Incidents)
	}
}

// progress prints events as they happen and, on a terminal, a status line
// with the timeline and the scores.
type progress struct {
	w   io.Writer
	x   *engine.Exercise
	tty bool
	mu  sync.Mutex
}

func newProgress(w io.Writer, x *engine.Exercise) *progress {
	p := &progress{w: w, x: x}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) start() func() {
	ch, cancel := p.x.Feed().Subscribe(4096)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case u, ok := <-ch:
				if !ok {
					return
				}
				p.event(u.Event)
			case <-t.C:
				p.status()
			case <-done:
				for {
					select {
					case u, ok := <-ch:
						if !ok {
							return
						}
						p.event(u.Event)
					default:
						return
					}
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		cancel()
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
	}
}

func (p *progress) event(e store.Event) {
	line := engine.Describe(p.x.Scenario(), e, "en")
	if line == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%7s  %s\n", engine.FormatDuration(e.Clock), line)
}

func (p *progress) status() {
	if !p.tty {
		return
	}
	s := p.x.Summary()
	const width = 30
	filled := 0
	if s.Duration > 0 {
		filled = int(float64(width) * float64(s.Clock) / float64(s.Duration))
	}
	bar := strings.Repeat("█", min(filled, width)) + strings.Repeat("░", width-min(filled, width))
	var scores []string
	for _, t := range s.Teams {
		scores = append(scores, fmt.Sprintf("%s %d", t.Name, t.Score))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K%s %s/%s %-7s | injects %d | %s", bar, engine.FormatDuration(s.Clock),
		engine.FormatDuration(s.Duration), s.Phase, len(s.Fired), strings.Join(scores, " · "))
}
