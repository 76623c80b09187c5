package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/scoreboard"
)

// runSettings is how an exercise is served and run: what `icsrange run`
// was started with. It is kept with the exercise (engine.MetaSettings), so
// `icsrange run --resume --data DIR` serves and runs it the same way; a
// flag given again on the resume overrides its saved value and is saved.
// Each field's flag tag names the flag that sets it. The backend and the
// traffic cap are kept by the engine itself; teams and seed make the
// exercise and cannot change.
type runSettings struct {
	Listen    string        `json:"listen" flag:"listen"`
	TLSCert   string        `json:"tls_cert,omitempty" flag:"tls-cert"` // absolute
	TLSKey    string        `json:"tls_key,omitempty" flag:"tls-key"`   // absolute
	Origins   []string      `json:"origins,omitempty" flag:"origin"`
	Speed     float64       `json:"speed" flag:"speed"`
	Start     string        `json:"start" flag:"start"`
	Linger    time.Duration `json:"linger" flag:"linger"` // < 0: until Ctrl-C
	Keep      bool          `json:"keep,omitempty" flag:"keep"`
	Expose    string        `json:"expose,omitempty" flag:"expose"`
	PortBase  int           `json:"port_base,omitempty" flag:"port-base"`
	TFModule  string        `json:"tf_module,omitempty" flag:"tf-module"` // absolute
	Terraform string        `json:"terraform,omitempty" flag:"terraform"` // absolute if a path
	TFReady   time.Duration `json:"tf_ready_timeout" flag:"tf-ready-timeout"`
	// PublicPerAddr bounds the WebSocket connections without a token one
	// source address may hold (0: no bound).
	PublicPerAddr int `json:"public_ws_per_addr" flag:"public-ws-per-addr"`
}

// lingerForever is --linger's default: serve the final board until Ctrl-C.
const lingerForever = -1

// define puts the settings' flags on fs, with the settings' current values
// as defaults.
func (s *runSettings) define(fs *flag.FlagSet) {
	fs.StringVar(&s.Listen, "listen", s.Listen, "scoreboard and API address")
	fs.StringVar(&s.TLSCert, "tls-cert", s.TLSCert, "serve the scoreboard over HTTPS/WSS with this certificate (PEM)")
	fs.StringVar(&s.TLSKey, "tls-key", s.TLSKey, "key (PEM) for --tls-cert")
	fs.Var((*listFlag)(&s.Origins), "origin", "extra allowed WebSocket origin, e.g. https://range.example.org (repeatable)")
	fs.Float64Var(&s.Speed, "speed", s.Speed, "exercise time per wall time (600 runs 45 minutes in 4.5 s)")
	fs.StringVar(&s.Start, "start", s.Start, "now, or manual (the instructor starts it)")
	fs.Var((*lingerValue)(&s.Linger), "linger", "after the end, keep serving the final board, team views and report for this `DURATION` (0: exit at once)")
	fs.BoolVar(&s.Keep, "keep", s.Keep, "leave Docker- or Terraform-made plants up when the exercise ends")
	fs.StringVar(&s.Expose, "expose", s.Expose, "docker: also publish every PLC's Modbus port on this address of the Docker host, for trainees' tools")
	fs.IntVar(&s.PortBase, "port-base", s.PortBase, "first Modbus port for in-process PLCs (default: free ports)")
	fs.StringVar(&s.TFModule, "tf-module", s.TFModule, "Terraform module for --backend terraform (e.g. deploy/terraform/local)")
	fs.StringVar(&s.Terraform, "terraform", s.Terraform, "terraform binary (default: terraform on PATH)")
	fs.DurationVar(&s.TFReady, "tf-ready-timeout", s.TFReady, "how long Terraform-made PLCs may take to answer after apply")
	fs.IntVar(&s.PublicPerAddr, "public-ws-per-addr", s.PublicPerAddr, "WebSocket connections without a token one address may hold: public screens, and browsers until their hello signs in (0: no bound); the excess gets 429")
}

func defaultRunSettings() runSettings {
	return runSettings{Listen: "127.0.0.1:8080", Speed: 1, Start: "manual", Linger: lingerForever, TFReady: time.Minute,
		PublicPerAddr: scoreboard.DefaultPublicPerAddr}
}

// override takes the fields of the flags given (by their flag tag) from
// given.
func (s *runSettings) override(given *runSettings, set map[string]bool) {
	dst, src := reflect.ValueOf(s).Elem(), reflect.ValueOf(given).Elem()
	for i := range dst.NumField() {
		if set[dst.Type().Field(i).Tag.Get("flag")] {
			dst.Field(i).Set(src.Field(i))
		}
	}
}

// absolute makes the settings' file paths absolute, so a resume from
// another directory finds the same files.
func (s *runSettings) absolute() error {
	for _, p := range []*string{&s.TLSCert, &s.TLSKey, &s.TFModule} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	// A bare name is looked up on PATH, then as now.
	if strings.ContainsRune(s.Terraform, filepath.Separator) {
		abs, err := filepath.Abs(s.Terraform)
		if err != nil {
			return err
		}
		s.Terraform = abs
	}
	return nil
}

// lingerValue is --linger: a duration, or (negative) until Ctrl-C.
type lingerValue time.Duration

func (l *lingerValue) String() string {
	if l != nil && *l < 0 {
		return "until Ctrl-C"
	}
	if l == nil {
		return "0s"
	}
	return time.Duration(*l).String()
}

func (l *lingerValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("give a duration of 0 or more")
	}
	*l = lingerValue(d)
	return nil
}

// resumeSettings reads back how the exercise in o.data was made to be
// served and run, lets the flags given (set) override it, and refuses the
// flags that would make it another exercise.
func resumeSettings(ctx context.Context, o *runOptions, set map[string]bool) error {
	for _, f := range []string{"teams", "team", "seed"} {
		if set[f] {
			return usageErr("--%s: a resumed exercise keeps the teams and seed it was made with", f)
		}
	}
	meta, err := readMeta(ctx, o.data)
	if err != nil {
		return err
	}
	backend := meta["backend"]
	if set["backend"] && o.backend != backend {
		return usageErr("--backend %s: the exercise in %s runs on %s; its plants stay where they are", o.backend, o.data, backend)
	}
	o.backend = backend
	if !set["traffic-cap"] {
		fmt.Sscan(meta["traffic_cap"], &o.trafCap)
	}
	saved := defaultRunSettings()
	if b := meta[engine.MetaSettings]; b != "" {
		if err := json.Unmarshal([]byte(b), &saved); err != nil {
			return fmt.Errorf("read the settings of the exercise in %s: %w", o.data, err)
		}
	}
	saved.override(&o.runSettings, set)
	o.runSettings = saved
	return nil
}

// readMeta reads an exercise's metadata from its event log.
func readMeta(ctx context.Context, dir string) (map[string]string, error) {
	path := filepath.Join(dir, engine.EventsFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no exercise in %s: %w", dir, err)
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Meta(ctx)
}

// resumeCommand is the exact command that continues the exercise in dir:
// every other setting comes back from the data dir.
func resumeCommand(dir string) string { return "icsrange run --resume --data " + shellQuote(dir) }

// reportCommand is the command that writes the report of the exercise in
// dir as it stands.
func reportCommand(dir string) string {
	return "icsrange report --data " + shellQuote(dir) + " -o " + shellQuote(filepath.Join(dir, reportFiles["html"]))
}

// downCommand removes the exercise's plants.
func downCommand(dir string) string { return "icsrange down --data " + shellQuote(dir) }

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
