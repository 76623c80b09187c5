// Package buildinfo says which build of icsrange is running: the release
// version, the commit and its date, and the Go version. `make release` sets
// the first three with -ldflags -X; a plain `go build` in a git checkout
// gets the commit and date from the VCS stamp Go embeds, and `go install
// module@version` gets the module version, so every binary can say what it
// is.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by `make release` (see the Makefile's LDFLAGS):
//
//	-X github.com/icsrange/icsrange/internal/buildinfo.version=v0.3.0
//	-X github.com/icsrange/icsrange/internal/buildinfo.commit=<sha>
//	-X github.com/icsrange/icsrange/internal/buildinfo.date=<commit date, RFC 3339>
var (
	version string
	commit  string
	date    string
)

// Info is a build's identity; the scoreboard serves it as /api/version and
// the after-action report carries it.
type Info struct {
	// Version is `git describe --tags --always --dirty` at release time
	// ("v0.3.0", "v0.3.0-4-gabc1234-dirty"), the module version of a `go
	// install`, or "devel".
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	// Date is the commit's date (RFC 3339), not the build's: two builds of
	// one commit are byte-identical.
	Date     string `json:"date,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

// Get returns this binary's build info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers what the linker set, then the build's own stamp.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			in.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && in.Commit == "":
				in.Commit = s.Value
			case s.Key == "vcs.time" && in.Date == "":
				in.Date = s.Value
			case s.Key == "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
	}
	if strings.HasSuffix(in.Version, "-dirty") {
		in.Modified = true
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is the build in one line, for --version and logs.
func (in Info) String() string {
	facts := []string{"commit " + or(short(in.Commit))}
	if in.Modified && !strings.HasSuffix(in.Version, "-dirty") {
		facts[0] += " (modified)"
	}
	facts = append(facts, "date "+or(in.Date), in.Go, in.Platform)
	return fmt.Sprintf("icsrange %s (%s)", in.Version, strings.Join(facts, ", "))
}

// Lines is what `icsrange version` prints: one fact a line.
func (in Info) Lines() []string {
	commit := or(in.Commit)
	if in.Modified {
		commit += " (with uncommitted changes)"
	}
	return []string{
		"version   " + in.Version,
		"commit    " + commit,
		"date      " + or(in.Date) + " (the commit's)",
		"go        " + in.Go,
		"platform  " + in.Platform,
	}
}

func or(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
