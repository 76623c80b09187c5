package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"golang.org/x/term"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/pcap"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

func (m *Main) runPcap(ctx context.Context, args []string) error {
	fs := m.newFlags("pcap", "--data DIR --team T [--plc ID] [-o FILE]")
	data := fs.String("data", "", "the exercise's data dir")
	team := fs.String("team", "", "the team whose PLCs' traffic to export")
	plc := fs.String("plc", "", "only this PLC's traffic")
	out := fs.String("o", "", "output file (default: standard output, unless it is a terminal)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *data == "" || *team == "" {
		return usageErr("--data DIR and --team T are required")
	}
	if *out == "" {
		if f, ok := m.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return usageErr("a pcap is binary: give -o FILE, or redirect standard output")
		}
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
	meta, err := st.Meta(ctx)
	if err != nil {
		return err
	}
	var teams []string
	if err := json.Unmarshal([]byte(meta["teams"]), &teams); err != nil {
		return fmt.Errorf("read the exercise's teams: %w", err)
	}
	if !slices.Contains(teams, *team) {
		return fmt.Errorf("no team %q in this exercise (teams: %s)", *team, strings.Join(teams, ", "))
	}
	// The scenario kept in the log gives the PLCs their addresses in the
	// capture; without it they get generic ones.
	sc, scErr := scenario.Load(meta["scenario_path"], []byte(meta["scenario_yaml"]))
	if scErr != nil {
		fmt.Fprintf(m.Stderr, "icsrange pcap: the exercise's scenario does not load (%v); PLCs get generic addresses\n", scErr)
		sc = nil
	}
	if sc != nil && *plc != "" && !slices.ContainsFunc(sc.PLCs, func(p plant.PLC) bool { return p.ID == *plc }) {
		return fmt.Errorf("no PLC %q in this exercise", *plc)
	}
	// The real packets, where the PLCs captured them (Docker); else frames
	// rebuilt from the traffic log.
	pkts, err := pcap.ReadPackets(ctx, st, *team, *plc, 0)
	if err != nil {
		return err
	}
	var rows []store.TrafficRow
	var opts pcap.Options
	if len(pkts) == 0 {
		if rows, err = pcap.ReadRows(ctx, st, *team, *plc, 0); err != nil {
			return err
		}
		if opts, err = pcap.ExerciseOptions(ctx, st, sc); err != nil {
			return err
		}
	}
	w := m.Stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("write pcap: %w", err)
		}
		w = f
	}
	var stats pcap.Stats
	var pstats pcap.PacketStats
	if len(pkts) > 0 {
		pstats, err = pcap.WritePackets(w, pkts)
	} else {
		stats, err = pcap.WriteStats(w, rows, opts)
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
		}
	}
	if err != nil {
		return err
	}
	if len(pkts) > 0 {
		return m.reportPackets(meta, *team, *plc, *out, pstats)
	}
	// What was left out goes to stderr: stdout may be the capture.
	msg := fmt.Sprintf("%d transactions in %d TCP streams (%d packets)", stats.Transactions, stats.Streams, stats.Packets)
	if *out != "" {
		msg = "wrote " + *out + ": " + msg
	}
	fmt.Fprintln(m.Stderr, msg)
	if stats.Summaries > 0 {
		fmt.Fprintf(m.Stderr, "  left out %d flood summaries standing for %d transactions (the log keeps no frames of them)\n",
			stats.Summaries, stats.Summarised)
	}
	if stats.Unframed > 0 {
		fmt.Fprintf(m.Stderr, "  left out %d rows without frames\n", stats.Unframed)
	}
	hosts := make([]string, 0, len(stats.Mapped))
	for h := range stats.Mapped {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(m.Stderr, "  source %s is not IPv4: shown as %s\n", h, stats.Mapped[h])
	}
	return nil
}

// reportPackets tells, on stderr, what a capture of the real packets holds
// and what it misses.
func (m *Main) reportPackets(meta map[string]string, team, plc, out string, st pcap.PacketStats) error {
	msg := fmt.Sprintf("%d packets captured at the PLCs' interfaces", st.Packets)
	if out != "" {
		msg = "wrote " + out + ": " + msg
	}
	fmt.Fprintln(m.Stderr, msg)
	if st.Truncated > 0 {
		fmt.Fprintf(m.Stderr, "  %d packets cut at the capture's snap length\n", st.Truncated)
	}
	pos, err := engine.PacketPositions(meta)
	if err != nil {
		return err
	}
	plcs := make([]string, 0, len(pos[team]))
	for p := range pos[team] {
		plcs = append(plcs, p)
	}
	sort.Strings(plcs)
	trafficCap := engine.DefaultTrafficCap
	fmt.Sscan(meta["traffic_cap"], &trafficCap)
	for _, p := range plcs {
		if d := pos[team][p].Dropped; d > 0 && (plc == "" || plc == p) {
			fmt.Fprintf(m.Stderr, "  left out %d packets of plc %s: past the cap of %d packets, or lost before the engine collected them\n",
				d, p, engine.PacketCap(trafficCap))
		}
	}
	return nil
}
