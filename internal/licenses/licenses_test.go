package licenses

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
)

// Every module linked into icsrange, on every release platform, has a
// licence that may be linked into an Apache-2.0 release. The list is
// printed (go test -v, or make licenses) for a legal review.
func TestLinkedModules(t *testing.T) {
	mods, err := Linked(context.Background(), "../..", Platforms, "./cmd/icsrange")
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 20 {
		t.Fatalf("%d modules linked: go list found less than icsrange obviously links", len(mods))
	}
	if err := Check(mods); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "MODULE\tVERSION\tLICENCE\tFILES\n")
	for _, m := range mods {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.Path, m.Version, strings.Join(m.IDs, " + "), strings.Join(m.Files, " "))
	}
	w.Flush()
	b.WriteString("\nread by a person (licenses.Reviewed):\n")
	for _, m := range mods {
		for _, n := range m.Notes {
			fmt.Fprintf(&b, "  %s %s\n", m.Path, n)
		}
	}
	t.Logf("%d modules linked into icsrange (%s):\n%s", len(mods), strings.Join(Platforms, ", "), b.String())
	for _, m := range mods {
		for _, p := range m.Problems {
			t.Errorf("%s %s: %s", m.Path, m.Version, p)
		}
	}
	// A module linked on one platform only is in the list.
	found := false
	for _, m := range mods {
		found = found || m.Path == "github.com/Microsoft/go-winio"
	}
	if !found {
		t.Errorf("go-winio (linked on windows only) is missing: not every platform was listed")
	}
}

// The classifier passes the licences we allow and fails strong copyleft,
// weak copyleft other than MPL-2.0, and what it cannot name. The texts are
// Debian's copies of the real licences.
func TestClassify(t *testing.T) {
	const dir = "/usr/share/common-licenses"
	for _, tc := range []struct {
		file string
		id   string
		ok   bool
	}{
		{"Apache-2.0", "Apache-2.0", true},
		{"MPL-2.0", "MPL-2.0", true},
		{"GPL-2", "GPL-2.0", false},
		{"GPL-3", "GPL-3.0", false},
		{"LGPL-2.1", "LGPL-2.1", false},
		{"LGPL-3", "LGPL-3.0", false},
	} {
		text, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%v (Debian's base-files installs it)", err)
			}
			t.Skipf("no licence texts to test with: %v", err)
		}
		ids, problem := Classify(text)
		if len(ids) == 0 || !strings.HasPrefix(ids[0], tc.id) {
			t.Errorf("%s classified as %v", tc.file, ids)
		}
		if (problem == "") != tc.ok {
			t.Errorf("%s (%v): problem %q, want allowed=%v", tc.file, ids, problem, tc.ok)
		}
	}
	// Words that are no licence at all, and a known licence with extra
	// terms that outweigh it.
	if ids, problem := Classify([]byte("All rights reserved. You may look but not touch.\n")); problem == "" {
		t.Errorf("an unknown text passed as %v", ids)
	}
	mit, _ := os.ReadFile(filepath.Join("..", "..", "LICENSE"))
	if _, problem := Classify(mit); problem != "" {
		t.Errorf("our own LICENSE: %s", problem)
	}
	extra := append(mit, []byte(strings.Repeat("Additionally, the licensee must send the author a postcard every year. ", 80))...)
	if ids, problem := Classify(extra); problem == "" {
		t.Errorf("Apache-2.0 with pages of extra terms passed as %v", ids)
	}
}

// A module whose licence fails, or that has no licence file, is reported
// with its name.
func TestCheckNamesTheModule(t *testing.T) {
	dir := t.TempDir()
	gpl, err := os.ReadFile("/usr/share/common-licenses/GPL-3")
	if err != nil {
		t.Skipf("no GPL text: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "gpl"), 0o755)
	os.WriteFile(filepath.Join(dir, "gpl", "COPYING"), gpl, 0o644)
	os.MkdirAll(filepath.Join(dir, "none"), 0o755)
	os.WriteFile(filepath.Join(dir, "none", "README"), []byte("hello"), 0o644)
	// A reviewed file whose text changed is read again.
	os.MkdirAll(filepath.Join(dir, "memory"), 0o755)
	os.WriteFile(filepath.Join(dir, "memory", "LICENSE-LOGO"), []byte("The logo may only be used on Tuesdays."), 0o644)
	mods := []Module{{Path: "example.com/gpl", Dir: filepath.Join(dir, "gpl")}, {Path: "example.com/none", Dir: filepath.Join(dir, "none")},
		{Path: "modernc.org/memory", Dir: filepath.Join(dir, "memory")}}
	if err := Check(mods); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(mods[0].Problems, "; "); !strings.Contains(p, "GPL-3.0") || !strings.Contains(p, "COPYING") {
		t.Errorf("GPL module: %q", p)
	}
	if p := strings.Join(mods[1].Problems, "; "); !strings.Contains(p, "no LICENSE") {
		t.Errorf("module without a licence: %q", p)
	}
	if p := strings.Join(mods[2].Problems, "; "); !strings.Contains(p, "LICENSE-LOGO changed since it was reviewed") {
		t.Errorf("changed reviewed file: %q", p)
	}
}
