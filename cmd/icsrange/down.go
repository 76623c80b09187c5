package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/icsrange/icsrange/engine"
)

func (m *Main) runDown(ctx context.Context, args []string) error {
	fs := m.newFlags("down", "--data DIR [--terraform PATH]  (DOCKER_HOST for docker plants)")
	data := fs.String("data", "", "the exercise's data dir")
	tfBinary := fs.String("terraform", "", "terraform binary (default: terraform on PATH)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageErr("--data DIR is required")
	}
	if _, err := os.Stat(filepath.Join(*data, engine.EventsFile)); err != nil {
		return fmt.Errorf("no exercise in %s: %w", *data, err)
	}
	name, err := exerciseMeta(ctx, *data, "backend")
	if err != nil {
		return err
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
	id, err := exerciseMeta(ctx, *data, "exercise_id")
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
