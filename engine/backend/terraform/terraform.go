// Package terraform provisions plants with a Terraform module, driving the
// terraform binary through hashicorp/terraform-exec: init, plan, apply,
// output, destroy, with the working directory and state inside the
// exercise's data dir. The engine then drives the PLCs the module made
// through their Modbus and management endpoints, as with any backend.
package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/internal/token"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// WorkDir is the Terraform working directory inside a data dir.
const WorkDir = "terraform"

// Backend provisions with a Terraform module.
type Backend struct {
	// Module is the module directory; its .tf files are copied into the
	// working directory, so the state lives with the exercise.
	Module string
	// Terraform is the terraform binary; default "terraform" on PATH.
	Terraform string
	// Icsrange is the icsrange binary modules run; default this executable.
	Icsrange string
	// DataDir is the exercise's data dir (for Destroy without a plan).
	DataDir string
	// Log receives terraform's output, line by line.
	Log io.Writer
	// ReadyTimeout bounds the wait for every PLC to answer (default 60 s).
	ReadyTimeout time.Duration

	logw io.Writer // terraform.log and Log, while a command runs
}

// saved is what Recover needs.
type saved struct {
	WorkDir   string                                  `json:"work_dir"`
	Endpoints map[string]map[string]map[string]string `json:"endpoints"` // team → plc → {modbus, mgmt}
}

func (b *Backend) binary() (string, error) {
	name := b.Terraform
	if name == "" {
		name = "terraform"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("terraform binary %q not found (give --terraform PATH): %w", name, err)
	}
	return p, nil
}

// LogFile is terraform's full log in the working directory.
const LogFile = "terraform.log"

func (b *Backend) tf(workDir string) (*tfexec.Terraform, func(), error) {
	bin, err := b.binary()
	if err != nil {
		return nil, nil, err
	}
	tf, err := tfexec.NewTerraform(workDir, bin)
	if err != nil {
		return nil, nil, fmt.Errorf("terraform: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(workDir, LogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("terraform log: %w", err)
	}
	var w io.Writer = f
	if b.Log != nil {
		w = io.MultiWriter(f, b.Log)
	}
	tf.SetStdout(w)
	tf.SetStderr(w)
	b.logw = w
	return tf, func() { b.logw = nil; f.Close() }, nil
}

// IsProgress reports whether a terraform log line is worth showing in a
// terminal: resource progress, summaries and errors.
func IsProgress(line string) bool {
	if strings.HasPrefix(line, logPrefix) {
		return true
	}
	for _, s := range []string{"Creating...", "Creation complete", "Destroying...", "Destruction complete",
		"Still creating", "Apply complete", "Destroy complete", "Plan:", "Error", "error"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// log writes icsrange's own line into terraform's log (and the terminal).
func (b *Backend) log(format string, a ...any) {
	w := b.logw
	if w == nil {
		w = b.Log
	}
	if w != nil {
		fmt.Fprintf(w, logPrefix+format+"\n", a...)
	}
}

const logPrefix = "icsrange: "

// Provision runs init, plan (summary logged), apply and output, then waits
// until every PLC answers Modbus. A failed apply destroys what it made.
func (b *Backend) Provision(ctx context.Context, plan backend.Plan, progress func(backend.Step)) (backend.Deployment, error) {
	if b.Module == "" {
		return nil, errors.New("the terraform backend needs a module (--tf-module DIR)")
	}
	work, err := filepath.Abs(filepath.Join(plan.DataDir, WorkDir))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("terraform work dir: %w", err)
	}
	if err := copyModule(b.Module, work); err != nil {
		return nil, err
	}
	tok := token.New()
	tokFile := filepath.Join(work, "mgmt.token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write mgmt token: %w", err)
	}
	vars, err := b.vars(plan, work, tokFile)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(work, "icsrange.auto.tfvars.json"), vars); err != nil {
		return nil, err
	}
	tf, done, err := b.tf(work)
	if err != nil {
		return nil, err
	}
	defer done()
	step := func(what, state string, done, total int) {
		if progress != nil {
			progress(backend.Step{What: what, State: state, Done: done, Total: total})
		}
	}
	step("terraform init", "started", 0, 4)
	if err := tf.Init(ctx, tfexec.Upgrade(false)); err != nil {
		return nil, fmt.Errorf("terraform init: %w", err)
	}
	step("terraform plan", "started", 1, 4)
	planFile := filepath.Join(work, "icsrange.tfplan")
	if _, err := tf.Plan(ctx, tfexec.Out(planFile)); err != nil {
		return nil, fmt.Errorf("terraform plan: %w", err)
	}
	if p, err := tf.ShowPlanFile(ctx, planFile); err == nil {
		counts := map[string]int{}
		for _, rc := range p.ResourceChanges {
			for _, a := range rc.Change.Actions {
				counts[string(a)]++
			}
		}
		b.log("terraform plan: %d to create, %d to update, %d to delete", counts["create"], counts["update"], counts["delete"])
	}
	step("terraform apply", "started", 2, 4)
	if err := tf.Apply(ctx, tfexec.DirOrPlan(planFile)); err != nil {
		b.log("terraform apply failed; destroying what it made")
		if derr := tf.Destroy(context.WithoutCancel(ctx)); derr != nil {
			return nil, fmt.Errorf("terraform apply: %w (and the cleanup failed too: %v)", err, derr)
		}
		return nil, fmt.Errorf("terraform apply: %w", err)
	}
	step("terraform output", "started", 3, 4)
	d, err := b.attach(ctx, tf, plan, work, tok)
	if err != nil {
		b.log("the plant is not usable; destroying it")
		if derr := tf.Destroy(context.WithoutCancel(ctx)); derr != nil {
			return nil, fmt.Errorf("%w (and the cleanup failed too: %v)", err, derr)
		}
		return nil, err
	}
	step("plants", "healthy", 4, 4)
	return d, nil
}

// vars are the module contract's inputs.
func (b *Backend) vars(plan backend.Plan, work, tokFile string) (map[string]any, error) {
	self := b.Icsrange
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the icsrange binary: %w", err)
		}
	}
	plcs := []map[string]any{}
	for _, p := range plan.PLCs {
		plcs = append(plcs, map[string]any{"id": p.ID, "model": p.Model, "zone": p.Zone})
	}
	hosts := []map[string]any{}
	for _, h := range plan.Hosts {
		hosts = append(hosts, map[string]any{"id": h.ID, "role": h.Role, "zone": h.Zone, "address": h.Address})
	}
	args := map[string][]string{}
	ports := map[string]map[string]int{}
	for _, t := range plan.Teams {
		for _, p := range plan.PLCs {
			k := t + "/" + p.ID
			args[k] = plcArgs(plan, t, p)
			mb, err := freePort()
			if err != nil {
				return nil, err
			}
			mg, err := freePort()
			if err != nil {
				return nil, err
			}
			ports[k] = map[string]int{"modbus": mb, "mgmt": mg}
		}
	}
	return map[string]any{"exercise_id": plan.ExerciseID, "teams": plan.Teams, "plcs": plcs, "hosts": hosts,
		"plc_args": args, "ports": ports, "mgmt_token_file": tokFile, "icsrange_binary": self, "work_dir": work}, nil
}

// plcArgs are the `icsrange plc` arguments of team's PLC p as the module
// contract hands them over: all but where the PLC listens and its token
// file, which only the module knows (it adds --listen, --mgmt and
// --token-file); those are left at their defaults here, so Args leaves
// them out.
func plcArgs(plan backend.Plan, team string, p plant.PLC) []string {
	return plants.ProcessConfig(plan.Seed, team, p).Args()
}

// freePort asks the kernel for a free port. Another process could take it
// before the PLC binds it; the readiness check would then fail loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// attach reads the module's outputs and builds the deployment.
func (b *Backend) attach(ctx context.Context, tf *tfexec.Terraform, plan backend.Plan, work, tok string) (*plants.Deployment, error) {
	outs, err := tf.Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform output: %w", err)
	}
	raw, ok := outs["plcs"]
	if !ok {
		return nil, errors.New("the module has no output \"plcs\" (see docs/terraform.md for the module contract)")
	}
	var eps map[string]map[string]map[string]string
	if err := json.Unmarshal(raw.Value, &eps); err != nil {
		return nil, fmt.Errorf("output plcs: want team => plc => {modbus, mgmt}: %w", err)
	}
	return b.connect(ctx, plan, saved{WorkDir: work, Endpoints: eps}, tok)
}

// connect builds the deployment from endpoints and waits for every PLC.
func (b *Backend) connect(ctx context.Context, plan backend.Plan, s saved, tok string) (*plants.Deployment, error) {
	timeout := b.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	byTeam := map[string][]*plants.Endpoint{}
	for _, t := range plan.Teams {
		for _, p := range plan.PLCs {
			ep := s.Endpoints[t][p.ID]
			if ep["modbus"] == "" || ep["mgmt"] == "" {
				return nil, fmt.Errorf("output plcs has no modbus and mgmt endpoint for team %s plc %s", t, p.ID)
			}
			cl := plantsim.NewMgmtClient(ep["mgmt"], tok)
			if err := waitReady(ctx, cl, ep["modbus"], p.UnitID, timeout); err != nil {
				return nil, fmt.Errorf("team %s plc %s: %w", t, p.ID, err)
			}
			byTeam[t] = append(byTeam[t], &plants.Endpoint{Spec: p, Handle: cl, Modbus: ep["modbus"], Mgmt: ep["mgmt"]})
		}
	}
	blob, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return plants.New(plan, byTeam, blob, nil), nil
}

// waitReady waits until a PLC answers both Modbus and its management API.
func waitReady(ctx context.Context, cl *plantsim.MgmtClient, modbus string, unit byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = plants.Ping(ctx, modbus, unit, func(local string) error {
			return cl.Attribute(ctx, local, plants.PingSource, plants.PingNote)
		}); last == nil {
			if _, last = cl.Health(ctx); last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Recover re-attaches to the PLCs the module made.
func (b *Backend) Recover(ctx context.Context, plan backend.Plan, data []byte) (backend.Deployment, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read saved terraform deployment: %w", err)
	}
	tok, err := os.ReadFile(filepath.Join(s.WorkDir, "mgmt.token"))
	if err != nil {
		return nil, fmt.Errorf("read mgmt token: %w", err)
	}
	return b.connect(ctx, plan, s, strings.TrimSpace(string(tok)))
}

// Destroy runs terraform destroy in the exercise's working directory. It
// is idempotent: an already destroyed (or never made) plant is fine.
func (b *Backend) Destroy(ctx context.Context, exerciseID string) error {
	if b.DataDir == "" {
		return errors.New("terraform destroy needs the exercise's data dir")
	}
	work, err := filepath.Abs(filepath.Join(b.DataDir, WorkDir))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(work, "terraform.tfstate")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	tf, done, err := b.tf(work)
	if err != nil {
		return err
	}
	defer done()
	if err := tf.Destroy(ctx); err != nil {
		return fmt.Errorf("terraform destroy: %w", err)
	}
	return nil
}

// copyModule copies a module's files (not its .terraform or state) into
// the working directory.
func copyModule(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read module %s: %w", src, err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, "terraform.tfstate") ||
			!(strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tfvars") || strings.HasSuffix(name, ".tf.json") || name == ".terraform.lock.hcl") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			return err
		}
		if strings.HasSuffix(name, ".tf") {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("module %s has no .tf files", src)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// LineWriter calls fn with each complete line written to it, for streaming
// terraform's output into progress displays.
type LineWriter struct {
	fn  func(string)
	buf []byte
}

// NewLineWriter returns a LineWriter.
func NewLineWriter(fn func(string)) *LineWriter { return &LineWriter{fn: fn} }

func (w *LineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}
