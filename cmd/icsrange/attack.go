package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/attack"
)

// targetFlag collects repeated (or comma-separated) --target flags.
type targetFlag []string

func (t *targetFlag) String() string { return strings.Join(*t, ",") }
func (t *targetFlag) Set(s string) error {
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*t = append(*t, f)
		}
	}
	return nil
}

// exitBlocked is attack's exit code when the network stopped the attack.
const exitBlocked = 3

func (m *Main) runAttack(ctx context.Context, args []string) error {
	const synopsis = "write|coil|scan|flood --target IP:PORT [--unit 1] [--addr N] [--value N] [--for 60s] [--slots 64]"
	fs := m.newFlags("attack", synopsis)
	var targets targetFlag
	fs.Var(&targets, "target", "PLC to attack, IP:PORT (a bare IP means port 502; repeatable or comma-separated)")
	unit := fs.Uint("unit", 1, "Modbus unit id")
	addr := fs.Uint("addr", 0, "0-based holding register (write) or coil (coil)")
	value := fs.Uint("value", 0, "raw register value 0..65535 (write); 0 or 1 (coil)")
	dur := fs.Duration("for", attack.DefaultFor, "how long a flood lasts")
	slots := fs.Int("slots", attack.DefaultSlots, "connections a flood holds per target")
	timeout := fs.Duration("timeout", attack.DialTimeout, "connect timeout; a connection not made in time is blocked")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(m.Stderr, "\nkinds: write (FC6), coil (FC5), scan (FC43/14, unit sweep 1..4, reads), flood (holds --slots connections, polls FC3 every 20ms for --for)\n"+
			"exit status: 0 done, 3 blocked (no connection could be made), 1 failed, 2 usage\n")
	}
	if len(args) == 0 {
		fs.Usage()
		return usageErr("which attack? (write, coil, scan or flood)")
	}
	kind := args[0]
	if kind == "-h" || kind == "-help" || kind == "--help" || kind == "help" {
		fs.Usage()
		return flag.ErrHelp
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *unit > 255 {
		return usageErr("--unit %d is outside 0..255", *unit)
	}
	if *addr > 0xFFFF || *value > 0xFFFF {
		return usageErr("--addr and --value are 0..65535")
	}
	spec := attack.Spec{Kind: attack.Kind(kind), Targets: targets, Unit: byte(*unit), Addr: uint16(*addr),
		Value: uint16(*value), For: *dur, Slots: *slots}
	if err := spec.Normalize(); err != nil {
		return usageErr("%v", err)
	}
	if spec.Kind == attack.Flood && *dur <= 0 {
		return usageErr("--for must be positive")
	}
	runner := attack.NewRunner(ctx)
	runner.DialTimeout = *timeout
	res, err := runner.Run(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s: %s\n", res.Outcome, res.Detail)
	if res.Outcome == attack.Blocked {
		return &exitError{code: exitBlocked, err: errors.New("")}
	}
	if spec.Kind == attack.Flood {
		start := time.Now()
		done := make(chan struct{})
		go func() { runner.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			runner.StopAll()
			<-done
		}
		fmt.Fprintf(m.Stdout, "flood ended after %v\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
