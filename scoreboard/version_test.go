package scoreboard

import (
	"testing"

	"github.com/icsrange/icsrange/internal/buildinfo"
)

// /api/version is public and says which build serves the exercise, so an
// instructor (or a trainee's bug report) can tell which release it is.
func TestVersionEndpoint(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	var got buildinfo.Info
	f.call("GET", "/api/version", "", nil).ok(t, "version", &got)
	if want := buildinfo.Get(); got != want || got.Version == "" || got.Go == "" {
		t.Fatalf("/api/version = %+v, want %+v", got, want)
	}
}
