// Package licenses checks what a release links: every module compiled into
// a command, on every platform it is released for, with the licence its
// own LICENSE or COPYING file states (classified by google/licensecheck),
// and whether that licence may be linked into an Apache-2.0 binary that
// training centres redistribute. Permissive licences and MPL-2.0 (file-level
// copyleft: our code stays ours) pass; GPL, LGPL, AGPL and any licence the
// classifier cannot name fail, with the module's name, so a new dependency
// is looked at by a person before it ships.
package licenses

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/licensecheck"
)

// Platforms are the GOOS/GOARCH pairs `make release` builds; a module
// linked on one of them only (go-winio on windows) is checked too.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// Allowed are the SPDX ids a linked module may carry: permissive licences
// that ask for a notice (THIRD_PARTY_NOTICES in a release carries them),
// and MPL-2.0, whose copyleft stops at the files it covers.
var Allowed = []string{"Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Unicode-DFS-2016", "MPL-2.0"}

// Review is what a person found reading a licence file the classifier
// could not settle. SHA256 pins the text that was read: a changed file is
// read again.
type Review struct {
	SHA256  string
	Verdict string
}

// Reviewed are those files, keyed by "module path" + " " + file name. A
// module without any licence file is reviewed by the file that states its
// licence (a README).
var Reviewed = map[string]Review{
	"github.com/mattn/go-localereader README.md": {"0c5c52517f13becd7a1e1234f1e8a5ba370f5a5078cee9ac058c2d534e267fcb",
		"MIT: the README's License section; the repository has no LICENSE file"},
	"github.com/opencontainers/go-digest LICENSE.docs": {"a1d1adec3ba691ef6e377a78bbe9e9e2501f2f4a1723d08857da1ac6564e4fed",
		"CC-BY-SA-4.0 for the repository's documentation, none of which is linked; the code is Apache-2.0 (LICENSE)"},
	"modernc.org/libc LICENSE-3RD-PARTY.md": {"f597097efe3d97021f89170746bd3a0fb9a8b6fb26b82043ed68a4e0283bee6c",
		"notices of code inside libc: Go (BSD-3-Clause), musl, go-netdb and nixpkgs (MIT); all permissive"},
	"modernc.org/memory LICENSE-LOGO": {"5ae5bee3072a841376451b48d8cfcec7188e10543926d5870828d36c8a750dc5",
		"a link to the project logo's licence; the logo is not linked"},
	"modernc.org/sqlite LICENSE-SQLITE": {"8438c9c89b849131ead81d5435cb97fcf052df5b0b286dda8a2d4c29e6cb3fd0",
		"SQLite's dedication to the public domain"},
	"modernc.org/sqlite LICENSE-3RD-PARTY.md": {"b4366b9c27a9364633e015011a231913ed19bf1228f335bf617e50a6f7b168a6",
		"section 1, the components linked into a program: MIT, BSD-3-Clause and SQLite's public-domain dedication"},
}

// Module is one linked module and its licence.
type Module struct {
	Path    string
	Version string
	Dir     string   // in the module cache
	Files   []string // its licence files, relative to Dir
	IDs     []string // SPDX ids found in them, sorted
	Notes   []string // what reviews found
	// Problems say why the module may not be linked; none when it may.
	Problems []string
}

// licenseFile matches the names modules give their licence: LICENSE,
// LICENCE, COPYING, with an optional suffix (LICENSE.md, LICENSE-MIT).
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)([.-].*)?$`)

// Linked lists the modules compiled into the packages pkgs (as `go list`
// names them, run in dir) on any of platforms, sorted by path; the main
// module and the standard library are left out.
func Linked(ctx context.Context, dir string, platforms []string, pkgs ...string) ([]Module, error) {
	byPath := map[string]*Module{}
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return nil, fmt.Errorf("platform %q is not GOOS/GOARCH", p)
		}
		cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-deps", "-json=ImportPath,Standard,Module"}, pkgs...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go list for %s: %w\n%s", p, err, stderr.String())
		}
		dec := json.NewDecoder(&out)
		for {
			var pkg struct {
				ImportPath string
				Standard   bool
				Module     *struct {
					Path, Version, Dir string
					Main               bool
					Replace            *struct{ Path, Version, Dir string }
				}
			}
			if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("go list for %s: %w", p, err)
			}
			m := pkg.Module
			if pkg.Standard || m == nil || m.Main {
				continue
			}
			if m.Replace != nil {
				m.Path, m.Version, m.Dir = m.Replace.Path, m.Replace.Version, m.Replace.Dir
			}
			if byPath[m.Path] == nil {
				byPath[m.Path] = &Module{Path: m.Path, Version: m.Version, Dir: m.Dir}
			}
		}
	}
	var mods []Module
	for _, m := range byPath {
		mods = append(mods, *m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

// Check reads each module's licence files and classifies them, setting
// IDs, Files and Problem.
func Check(mods []Module) error {
	for i := range mods {
		if err := check(&mods[i]); err != nil {
			return err
		}
	}
	return nil
}

func check(m *Module) error {
	if m.Dir == "" {
		m.Problems = append(m.Problems, "not in the module cache (go mod download "+m.Path+")")
		return nil
	}
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", m.Path, err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && licenseFile.MatchString(e.Name()) {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		// A reviewed statement elsewhere, or nothing at all.
		for k := range Reviewed {
			if path, file, _ := strings.Cut(k, " "); path == m.Path {
				files = append(files, file)
			}
		}
		if len(files) == 0 {
			m.Problems = append(m.Problems, "no LICENSE or COPYING file in "+m.Dir)
			return nil
		}
	}
	ids := map[string]bool{}
	for _, name := range files {
		text, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil {
			return fmt.Errorf("read %s's %s: %w", m.Path, name, err)
		}
		m.Files = append(m.Files, name)
		found, problem := Classify(text)
		if rv, ok := Reviewed[m.Path+" "+name]; ok {
			if sum := sha256.Sum256(text); hex.EncodeToString(sum[:]) != rv.SHA256 {
				m.Problems = append(m.Problems, fmt.Sprintf("%s changed since it was reviewed (sha256 %x): read it again and update licenses.Reviewed", name, sum))
				continue
			}
			m.Notes = append(m.Notes, name+": "+rv.Verdict)
			continue
		}
		for _, id := range found {
			ids[id] = true
		}
		if problem != "" {
			m.Problems = append(m.Problems, name+": "+problem)
		}
	}
	for id := range ids {
		m.IDs = append(m.IDs, id)
	}
	sort.Strings(m.IDs)
	return nil
}

// Classify names the licences in a licence file and says what, if
// anything, keeps it from being linked: a licence not in Allowed, or text
// the classifier does not recognise.
func Classify(text []byte) (ids []string, problem string) {
	cov := licensecheck.Scan(text)
	for _, m := range cov.Match {
		if !slices.Contains(ids, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	sort.Strings(ids)
	var bad []string
	for _, id := range ids {
		if !slices.Contains(Allowed, id) {
			bad = append(bad, id)
		}
	}
	switch {
	case len(bad) > 0:
		return ids, fmt.Sprintf("%s may not be linked into an Apache-2.0 release (allowed: %s)", strings.Join(bad, ", "), strings.Join(Allowed, ", "))
	case len(ids) == 0:
		return nil, "no known licence recognised"
	case cov.Percent < 75:
		// Extra terms beside a known licence are for a person to read.
		return ids, fmt.Sprintf("only %.0f%% of the text is a known licence", cov.Percent)
	}
	return ids, ""
}
