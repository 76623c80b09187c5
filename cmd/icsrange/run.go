package main

import (
	"context"
	"errors"
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
	file     string
	teams    int
	names    listFlag
	backend  string
	data     string
	speed    float64
	start    string
	listen   string
	resume   bool
	portBase int
	seed     uint64
	tlsCert  string
	tlsKey   string
	origins  listFlag
	url      string
	tfModule string
	tfBinary string
	tfReady  time.Duration
	keep     bool
	expose   string
	trafCap  int
	bar      *spinup // provisioning progress and the backend's log lines
}

func (m *Main) runRun(ctx context.Context, args []string) error {
	fs := m.newFlags("run", "FILE [--teams N | --team NAME ...] [flags]  |  run --resume --data DIR")
	var o runOptions
	fs.IntVar(&o.teams, "teams", 0, "number of teams, named team-1..team-N")
	fs.Var(&o.names, "team", "team name (repeatable); instead of --teams")
	fs.StringVar(&o.backend, "backend", "inproc", "where plants run: inproc (in this process), docker (containers on isolated networks; DOCKER_HOST) or terraform (--tf-module)")
	fs.StringVar(&o.expose, "expose", "", "docker: also publish every PLC's Modbus port on this address of the Docker host, for trainees' tools")
	fs.StringVar(&o.tfModule, "tf-module", "", "Terraform module for --backend terraform (e.g. deploy/terraform/local)")
	fs.StringVar(&o.tfBinary, "terraform", "", "terraform binary (default: terraform on PATH)")
	fs.BoolVar(&o.keep, "keep", false, "leave Docker- or Terraform-made plants up when the exercise ends")
	fs.DurationVar(&o.tfReady, "tf-ready-timeout", time.Minute, "how long Terraform-made PLCs may take to answer after apply")
	fs.IntVar(&o.trafCap, "traffic-cap", engine.DefaultTrafficCap, "transactions each PLC's traffic log keeps in full; past it, one summary row per burst (kept with the exercise; --resume reuses it)")
	fs.StringVar(&o.data, "data", "", "data dir for the event log, tokens and report (default ./runs/<scenario>-<time>)")
	fs.Float64Var(&o.speed, "speed", 1, "exercise time per wall time (600 runs 45 minutes in 4.5 s)")
	fs.StringVar(&o.start, "start", "manual", "now, or manual (the instructor starts it)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "scoreboard and API address")
	fs.BoolVar(&o.resume, "resume", false, "continue the exercise in --data after the engine stopped")
	fs.IntVar(&o.portBase, "port-base", 0, "first Modbus port for in-process PLCs (default: free ports)")
	fs.Uint64Var(&o.seed, "seed", 0, "noise seed (default random)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve the scoreboard over HTTPS/WSS with this certificate (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "key (PEM) for --tls-cert")
	fs.Var(&o.origins, "origin", "extra allowed WebSocket origin, e.g. https://range.example.org (repeatable)")
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
	if o.speed <= 0 || o.speed > 100000 {
		return usageErr("--speed %g is outside (0, 100000]", o.speed)
	}
	if o.start != "now" && o.start != "manual" {
		return usageErr("--start must be now or manual")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErr("--tls-cert and --tls-key go together")
	}
	if o.resume && o.data != "" {
		// A resumed exercise keeps the backend it was made with.
		if name, err := exerciseMeta(ctx, o.data, "backend"); err == nil {
			o.backend = name
		}
	}
	o.bar = newSpinup(m.Stdout)
	be, err := m.backend(o)
	if err != nil {
		return err
	}
	if o.trafCap < 100 {
		return usageErr("--traffic-cap %d: keep at least 100 transactions per PLC", o.trafCap)
	}
	if o.expose != "" && o.backend != "docker" {
		return usageErr("--expose is for --backend docker")
	}
	if o.backend == "terraform" && !o.resume && o.tfModule == "" {
		return usageErr("--backend terraform needs --tf-module DIR")
	}
	// Listen before provisioning so a busy port fails fast.
	ln, err := listenScoreboard(o.listen)
	if err != nil {
		return err
	}
	defer ln.Close()

	var x *engine.Exercise
	if o.resume {
		if o.data == "" || len(rest) > 0 {
			return usageErr("--resume takes --data DIR and no scenario file")
		}
		x, err = engine.Open(ctx, o.data, be, loadScenarioText)
		if err != nil {
			return err
		}
	} else {
		if len(rest) != 1 {
			return usageErr("give one scenario file")
		}
		o.file = rest[0]
		if x, err = m.create(ctx, o, be); err != nil {
			return err
		}
	}
	defer x.Close()
	if tb, ok := be.(*terraform.Backend); ok {
		tb.DataDir = x.Dir()
	}
	sb := scoreboard.New(x, scoreboard.Options{Origins: o.origins, Report: func(ctx context.Context, format string, w io.Writer) (string, error) {
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
		if err := sb.ListenAndServe(sctx, ln, o.tlsCert, o.tlsKey); err != nil {
			fmt.Fprintf(m.Stderr, "scoreboard: %v\n", err)
		}
	})
	defer func() {
		stopServer()
		serveWG.Wait()
	}()
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	o.url = fmt.Sprintf("%s://%s", scheme, ln.Addr())
	m.printSummary(x, o)

	if !o.resume && o.start == "now" {
		if err := x.Start(ctx, "operator"); err != nil {
			return err
		}
	}
	if _, phase := x.Clock(); phase == engine.PhaseCreated {
		fmt.Fprintf(m.Stdout, "Waiting for the instructor to start the exercise.\n")
	}

	prog := newProgress(m.Stdout, x)
	stopProg := prog.start()
	runErr := x.Run(ctx, o.speed)
	stopProg()
	switch {
	case errors.Is(runErr, context.Canceled):
		if err := x.Checkpoint(context.Background()); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "\nStopped. Continue with: icsrange run --resume --data %s\n", x.Dir())
		if o.backend != "inproc" {
			fmt.Fprintf(m.Stdout, "The plants are still up; remove them with: icsrange down --data %s\n", x.Dir())
		}
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
	if o.backend != "inproc" {
		if o.keep {
			fmt.Fprintf(m.Stdout, "Plants kept (--keep); remove them with: icsrange down --data %s\n", x.Dir())
			return nil
		}
		x.Close()
		if err := be.Destroy(context.Background(), x.ID()); err != nil {
			return fmt.Errorf("remove the plants: %w (retry with icsrange down --data %s)", err, x.Dir())
		}
		fmt.Fprintf(m.Stdout, "Plants removed.\n")
	}
	return nil
}

// backend builds the chosen backend.
func (m *Main) backend(o runOptions) (backend.Backend, error) {
	switch o.backend {
	case "inproc":
		return &inproc.Backend{PortBase: o.portBase}, nil
	case "docker":
		bar := m.spinupOf(o)
		return &docker.Backend{Expose: o.expose, Log: terraform.NewLineWriter(func(line string) {
			bar.say("docker: " + line)
		})}, nil
	case "terraform":
		mod := o.tfModule
		if mod != "" {
			abs, err := filepath.Abs(mod)
			if err != nil {
				return nil, err
			}
			mod = abs
		}
		return &terraform.Backend{Module: mod, Terraform: o.tfBinary, DataDir: o.data, ReadyTimeout: o.tfReady,
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
	st, err := store.Open(filepath.Join(dir, engine.EventsFile))
	if err != nil {
		return "", err
	}
	defer st.Close()
	meta, err := st.Meta(ctx)
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
	bar := m.spinupOf(o)
	defer bar.finish()
	return engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: data, ScenarioPath: o.file, Teams: teams,
		DataDir: o.data, Backend: be, BackendName: o.backend, Seed: o.seed, Progress: bar.step, TrafficCap: o.trafCap})
}

func (m *Main) printSummary(x *engine.Exercise, o runOptions) {
	sc := x.Scenario()
	s := x.Summary()
	w := m.Stdout
	fmt.Fprintf(w, "\n%s — %s\n", sc.Spec.Title.En, sc.Spec.Title.Ja)
	fmt.Fprintf(w, "exercise %s · %v · %d teams · speed ×%g\n\n", x.ID(), sc.Duration, len(s.Teams), o.speed)
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
	fmt.Fprintf(w, "Endpoints:   %s\n\n", filepath.Join(x.Dir(), engine.EndpointsFile))
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
