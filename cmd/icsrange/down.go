package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/docker"
)

func (m *Main) runDown(ctx context.Context, args []string) error {
	fs := m.newFlags("down", "--data DIR [--terraform PATH] | --exercise ID  [--force]  (DOCKER_HOST for docker plants)")
	data := fs.String("data", "", "the exercise's data dir")
	exercise := fs.String("exercise", "", "docker: remove this exercise's plants by label, without its data dir (icsrange ps lists them)")
	force := fs.Bool("force", false, "docker: remove even while an engine is attached")
	tfBinary := fs.String("terraform", "", "terraform binary (default: terraform on PATH)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("down takes no arguments (give --data DIR or --exercise ID)")
	case *data != "" && *exercise != "":
		return usageErr("give --data DIR or --exercise ID, not both")
	case *exercise != "":
		if err := docker.CheckExerciseID(*exercise); err != nil {
			return usageErr("--exercise: %v", err)
		}
		return m.downDocker(ctx, *exercise, *force)
	case *data == "":
		return usageErr("--data DIR or --exercise ID is required")
	}
	if _, err := os.Stat(filepath.Join(*data, engine.EventsFile)); err != nil {
		return fmt.Errorf("no exercise in %s: %w", *data, err)
	}
	name, err := exerciseMeta(ctx, *data, "backend")
	if err != nil {
		return err
	}
	id, err := exerciseMeta(ctx, *data, "exercise_id")
	if err != nil {
		return err
	}
	if name == "docker" {
		return m.downDocker(ctx, id, *force)
	}
	o := runOptions{backend: name, data: *data, runSettings: runSettings{Terraform: *tfBinary}}
	if o.Terraform == "" {
		// The terraform binary the exercise was run with.
		var saved runSettings
		if b, _ := exerciseMeta(ctx, *data, engine.MetaSettings); b != "" && json.Unmarshal([]byte(b), &saved) == nil {
			o.Terraform = saved.Terraform
		}
	}
	be, err := m.backend(o)
	if err != nil {
		return err
	}
	if err := be.Destroy(ctx, id); err != nil {
		return err
	}
	if name == "inproc" {
		fmt.Fprintf(m.Stdout, "nothing to remove: in-process plants end with the engine\n")
		return nil
	}
	fmt.Fprintf(m.Stdout, "removed the %s plants of %s\n", name, *data)
	return nil
}

// downDocker removes an exercise's Docker plants by label, the one way for
// --data and --exercise alike. An id nothing carries is not an error:
// down is idempotent, so a script may run it again after a partial
// failure or on an exercise already gone; icsrange ps --json tells whether
// an id exists.
func (m *Main) downDocker(ctx context.Context, id string, force bool) error {
	r, eng, err := (&docker.Backend{}).Remove(ctx, id, force)
	if eng.State == docker.EngineUnknown {
		fmt.Fprintf(m.Stderr, "icsrange down: can't tell whether an engine is attached to %s (%s); removing it\n", id, eng.Detail)
	}
	if err != nil {
		if r.None() {
			return err
		}
		return fmt.Errorf("removed %s of %s, then: %w", removedText(r), id, err)
	}
	if r.None() {
		fmt.Fprintf(m.Stdout, "nothing to remove: no container, network or volume carries %s=%s\n", docker.LabelExercise, id)
		return nil
	}
	fmt.Fprintf(m.Stdout, "removed %s of %s\n", removedText(r), id)
	return nil
}

func removedText(r docker.Removed) string {
	return fmt.Sprintf("%s, %s and %s", plural(r.Containers, "container"), plural(r.Networks, "network"), plural(r.Volumes, "volume"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
