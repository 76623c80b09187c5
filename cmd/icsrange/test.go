package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
)

func (m *Main) runTest(ctx context.Context, args []string) error {
	fs := m.newFlags("test", "FILE...")
	verbose := fs.Bool("v", false, "show every objective of passing tests too")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErr("give at least one scenario file")
	}
	failed, total := 0, 0
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			failed++
			fmt.Fprintf(m.Stderr, "%s: %v\n", path, err)
			continue
		}
		sc, err := scenario.Load(path, data)
		if err != nil {
			failed++
			var es scenario.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(m.Stderr, e.Error())
				}
			} else {
				fmt.Fprintf(m.Stderr, "%s: %v\n", path, err)
			}
			continue
		}
		for _, w := range sc.Warnings {
			fmt.Fprintln(m.Stderr, w.Error())
		}
		if len(sc.Spec.Tests) == 0 {
			fmt.Fprintf(m.Stdout, "%s: no tests\n", path)
			continue
		}
		for _, r := range engine.RunTests(ctx, sc, data, path) {
			total++
			status := "PASS"
			if !r.Passed {
				status = "FAIL"
				failed++
			}
			fmt.Fprintf(m.Stdout, "%s  %s: %s  (score %d, %v)\n", status, sc.Spec.ID, r.Name, r.Score, r.Elapsed.Round(1e6))
			if !r.Passed || *verbose {
				for _, o := range sc.Objectives {
					fmt.Fprintf(m.Stdout, "        objective %-12s %s\n", o.ID, r.Objectives[o.ID])
				}
				fmt.Fprintf(m.Stdout, "        fired: %s\n", strings.Join(r.Fired, ", "))
			}
			for _, p := range r.Problems {
				fmt.Fprintf(m.Stdout, "      ✗ %s\n", p)
			}
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d failed (%d tests run)", failed, total)}
	}
	return nil
}
