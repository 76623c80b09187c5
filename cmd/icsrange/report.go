package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/report"
	"github.com/icsrange/icsrange/engine/store"
)

func (m *Main) runReport(ctx context.Context, args []string) error {
	fs := m.newFlags("report", "--data DIR [--format html|json|csv|csv-scores] [-o FILE]")
	data := fs.String("data", "", "the exercise's data dir")
	format := fs.String("format", "html", "html, json, csv (events) or csv-scores")
	out := fs.String("o", "", "output file (default: standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageErr("--data DIR is required")
	}
	if !slices.Contains(report.Formats, *format) {
		return usageErr("--format must be one of %s", strings.Join(report.Formats, ", "))
	}
	path := filepath.Join(*data, engine.EventsFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no exercise in %s: %w", *data, err)
	}
	st, err := store.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := report.Build(ctx, st)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := r.Write(&buf, *format); err != nil {
		return err
	}
	if *out == "" {
		_, err := m.Stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(m.Stdout, "wrote %s\n", *out)
	return nil
}

// reportFiles are written to the data dir when an exercise ends.
var reportFiles = map[string]string{"html": "report.html", "json": "report.json", "csv": "events.csv", "csv-scores": "scores.csv"}

// writeReports writes the report in every format into the data dir.
func writeReports(ctx context.Context, x *engine.Exercise) ([]string, error) {
	r, err := report.Build(ctx, x.Store())
	if err != nil {
		return nil, err
	}
	var written []string
	for _, f := range report.Formats {
		var buf bytes.Buffer
		if err := r.Write(&buf, f); err != nil {
			return written, err
		}
		path := filepath.Join(x.Dir(), reportFiles[f])
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return written, fmt.Errorf("write report: %w", err)
		}
		written = append(written, path)
	}
	return written, nil
}
