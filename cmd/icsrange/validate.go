package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/icsrange/icsrange/engine/scenario"
)

func (m *Main) runValidate(ctx context.Context, args []string) error {
	fs := m.newFlags("validate", "FILE...")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErr("give at least one scenario file")
	}
	bad := 0
	for _, path := range fs.Args() {
		sc, err := scenario.LoadFile(path)
		if err != nil {
			bad++
			var es scenario.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(m.Stderr, e.Error())
				}
				continue
			}
			fmt.Fprintf(m.Stderr, "%s: %v\n", path, err)
			continue
		}
		for _, w := range sc.Warnings {
			fmt.Fprintln(m.Stderr, w.Error())
		}
		fmt.Fprintf(m.Stdout, "%s: ok (%s: %d PLCs, %d injects, %d objectives, %d tests, %v)\n", path, sc.Spec.ID,
			len(sc.PLCs), len(sc.Injects), len(sc.Objectives), len(sc.Spec.Tests), sc.Duration)
	}
	if bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files have problems", bad, fs.NArg())}
	}
	return nil
}
