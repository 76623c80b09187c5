package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
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
	name, err := backendOf(ctx, *data)
	if err != nil {
		return err
	}
	be, err := m.backend(runOptions{backend: name, data: *data, tfBinary: *tfBinary})
	if err != nil {
		return err
	}
	id, err := exerciseIDOf(ctx, *data)
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

// exerciseIDOf reads an exercise's id: the docker backend finds its
// containers and networks by it.
func exerciseIDOf(ctx context.Context, dir string) (string, error) {
	st, err := store.Open(filepath.Join(dir, engine.EventsFile))
	if err != nil {
		return "", err
	}
	defer st.Close()
	meta, err := st.Meta(ctx)
	if err != nil {
		return "", err
	}
	return meta["exercise_id"], nil
}
