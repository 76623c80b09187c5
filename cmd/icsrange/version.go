package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/icsrange/icsrange/internal/buildinfo"
)

// runVersion prints the build: version, commit, the commit's date, Go
// version and platform (--json for scripts).
func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := m.newFlags("version", "[--json]")
	asJSON := fs.Bool("json", false, "print the build info as JSON (what /api/version serves)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("version takes no arguments")
	}
	in := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	fmt.Fprintln(m.Stdout, strings.Join(in.Lines(), "\n"))
	return nil
}
