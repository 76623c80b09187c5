// Command notices writes the third-party notices a release carries: the
// licence files of Go and of every module linked into the given packages
// on every release platform. It fails, naming the module, when a licence
// may not be linked (see package licenses). `make release` runs it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/icsrange/icsrange/internal/licenses"
)

func main() {
	out := flag.String("o", "THIRD_PARTY_NOTICES.txt", "file to write")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "notices: %v\n", err)
		os.Exit(1)
	}
}

func run(out string, pkgs []string) error {
	if len(pkgs) == 0 {
		return fmt.Errorf("name the packages, e.g. ./cmd/icsrange")
	}
	mods, err := licenses.Linked(context.Background(), ".", licenses.Platforms, pkgs...)
	if err != nil {
		return err
	}
	if err := licenses.Check(mods); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Third-party software in icsrange\n\nicsrange is licensed under the Apache License 2.0 (LICENSE). The binaries\nalso contain the following software, under the licences that follow.\n\n")
	var bad []string
	for _, m := range mods {
		for _, p := range m.Problems {
			bad = append(bad, m.Path+" "+m.Version+": "+p)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("licences that may not ship:\n  %s", strings.Join(bad, "\n  "))
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goLicense, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "LICENSE"))
	if err != nil {
		return fmt.Errorf("read the licence of Go: %w", err)
	}
	section(&b, "The Go standard library and runtime", "LICENSE", goLicense)
	for _, m := range mods {
		for _, f := range m.Files {
			text, err := os.ReadFile(filepath.Join(m.Dir, f))
			if err != nil {
				return err
			}
			section(&b, m.Path+" "+m.Version, f, text)
		}
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

func section(b *bytes.Buffer, what, file string, text []byte) {
	fmt.Fprintf(b, "%s\n%s (%s)\n%s\n\n", strings.Repeat("=", 78), what, file, strings.Repeat("=", 78))
	b.Write(bytes.TrimRight(text, "\n"))
	b.WriteString("\n\n")
}
