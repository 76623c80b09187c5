package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/icsrange/icsrange/engine/backend/docker"
)

func (m *Main) runPs(ctx context.Context, args []string) error {
	fs := m.newFlags("ps", "[--json]  (the Docker daemon DOCKER_HOST names)")
	asJSON := fs.Bool("json", false, "print {\"exercises\": [...]} for scripts instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("ps takes no arguments")
	}
	list, err := (&docker.Backend{}).List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string][]docker.Exercise{"exercises": list})
	}
	if len(list) == 0 {
		fmt.Fprintln(m.Stdout, "no exercises on the Docker daemon")
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXERCISE\tSCENARIO\tTEAMS\tCONTAINERS\tNETWORKS\tCREATED\tENGINE")
	now := time.Now()
	for _, x := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d running\t%d\t%s\t%s\n", x.ID, x.Scenario, teamsCell(x.Teams),
			x.Running, x.Containers, x.Networks, createdCell(x.Created, now), engineCell(x.Engine))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, "\nRemove one with: icsrange down --exercise ID")
	return nil
}

// teamsCell is the team count and, while they fit, their names.
func teamsCell(teams []string) string {
	s := strconv.Itoa(len(teams))
	if names := strings.Join(teams, ","); len(teams) > 0 && len(names) <= 24 {
		s += " (" + names + ")"
	}
	return s
}

func createdCell(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04") + " (" + ago(now.Sub(t)) + " ago)"
}

func engineCell(e docker.Engine) string {
	switch e.State {
	case docker.EngineAttached:
		return "yes (" + e.Detail + ")"
	case docker.EngineDetached:
		return "no (" + e.Detail + ")"
	}
	return "unknown (" + e.Detail + ")"
}

// ago is a coarse duration for people: 40s, 12m, 3h, 2d.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(max(d, 0).Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}
