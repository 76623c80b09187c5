package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/icsrange/icsrange", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-22T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"release: the linker's values win", "v0.3.0", "feedfacefeedfacefeedfacefeedfacefeedface", "2026-11-23T09:00:00Z", stamped,
			Info{Version: "v0.3.0", Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Date: "2026-11-23T09:00:00Z", Go: "go1.26.8"}},
		{"go build in a checkout: the VCS stamp", "", "", "", stamped,
			Info{Version: "devel", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-11-22T10:00:00Z", Go: "go1.26.8"}},
		{"go install module@version", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}},
			Info{Version: "v0.3.0", Go: "go1.26.8"}},
		{"a dirty tree", "v0.3.0-2-gfeedfac-dirty", "feedface", "2026-11-23T09:00:00Z", nil,
			Info{Version: "v0.3.0-2-gfeedfac-dirty", Commit: "feedface", Date: "2026-11-23T09:00:00Z", Modified: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.version, tc.commit, tc.date, tc.bi)
			if tc.want.Go == "" {
				tc.want.Go = got.Go // runtime.Version() without build info
			}
			tc.want.Platform = got.Platform
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLines(t *testing.T) {
	in := Info{Version: "v0.3.0", Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Date: "2026-11-23T09:00:00Z", Go: "go1.26.8", Platform: "windows/amd64"}
	got := strings.Join(in.Lines(), "\n")
	for _, want := range []string{"version   v0.3.0", "commit    feedfacefeedfacefeedfacefeedfacefeedface", "date      2026-11-23T09:00:00Z", "go        go1.26.8", "platform  windows/amd64"} {
		if !strings.Contains(got, want) {
			t.Errorf("lines lack %q:\n%s", want, got)
		}
	}
	if s := in.String(); s != "icsrange v0.3.0 (commit feedfacefeed, date 2026-11-23T09:00:00Z, go1.26.8, windows/amd64)" {
		t.Errorf("one line: %s", s)
	}
	if s := (Info{Version: "devel", Go: "go1.26.8", Platform: "linux/amd64"}).String(); !strings.Contains(s, "commit unknown") {
		t.Errorf("an unstamped build should say so: %s", s)
	}
}
