// Command icsrange runs ICS cyber-range exercises: simulated PLCs, scenario
// validation and tests, live exercises with a scoreboard and a terminal UI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/icsrange/icsrange/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Main holds the command's outputs so tests can run subcommands in process.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	name  string
	usage string
	run   func(m *Main, ctx context.Context, args []string) error
}

func (m *Main) commands() []command {
	return []command{
		{"ps", "list the exercises whose plants are on the Docker daemon, data dir or not", (*Main).runPs},
		{"down", "remove an exercise's plants (--data DIR, or --exercise ID for Docker plants)", (*Main).runDown},
		{"report", "the after-action report of an exercise (html, json, csv)", (*Main).runReport},
		{"pcap", "a team's Modbus traffic as a pcap for Wireshark", (*Main).runPcap},
		{"tui", "the team's terminal UI, locally or over the internet", (*Main).runTUI},
		{"forward", "tunnel the team's PLCs' Modbus/TCP to local ports over the scoreboard", (*Main).runForward},
		{"validate", "check scenario files; every problem as FILE:LINE:COL", (*Main).runValidate},
		{"run", "run an exercise: plants, injects, scoring, scoreboard", (*Main).runRun},
		{"test", "run scenarios' scripted tests on a virtual clock", (*Main).runTest},
		{"plc", "run one simulated PLC (Modbus/TCP + management API)", (*Main).runPLC},
		{"router", "a plant container's zone router: nftables from conduits + management API", (*Main).runRouter},
		{"host", "a plant container's host agent: plays attacks from there on request", (*Main).runHost},
		{"attack", "a Modbus attack from this shell: write, coil, scan, flood", (*Main).runAttack},
		{"version", "the version, commit, build date and Go version of this binary", (*Main).runVersion},
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run runs a subcommand and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(m.Stdout, buildinfo.Get())
		return 0
	}
	for _, c := range m.commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(m, ctx, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintf(m.Stderr, "icsrange %s: %v\n", c.name, ee.err)
			}
			return ee.code
		}
		fmt.Fprintf(m.Stderr, "icsrange %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(m.Stderr, "icsrange: unknown command %q\n\n", args[0])
	m.usage(m.Stderr)
	return 2
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: icsrange COMMAND [flags]\n\ncommands:\n")
	for _, c := range m.commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintf(w, "\nRun 'icsrange COMMAND -h' for a command's flags; 'icsrange --version' for the build.\n")
}

// newFlags makes a flag set that reports errors instead of exiting.
func (m *Main) newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("icsrange "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "usage: icsrange %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; a bad flag is a usage error (exit 2).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: errors.New("")}
	}
	return nil
}

// usageErr is a usage error with a message (exit 2).
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}
