package scoreboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/icsrange/icsrange/engine/pcap"
	"github.com/icsrange/icsrange/engine/store"
)

// MaxPcapRows bounds a pcap download, in traffic-log rows or captured
// packets: more than this is for `icsrange pcap` on the engine's host.
const MaxPcapRows = 200_000

// maxPcapRows is the bound in force (tests lower it).
var maxPcapRows = MaxPcapRows

// getPcap serves a team's Modbus traffic as a pcap file: a team its own,
// the instructor any team's. Where the PLCs captured the real packets
// (Docker), those; else frames rebuilt from the traffic log.
func (s *Server) getPcap(w http.ResponseWriter, r *http.Request, c who) {
	team, ok := teamOf(w, r, c)
	if !ok {
		return
	}
	if _, err := s.x.TeamView(team); err != nil {
		s.fail(w, err)
		return
	}
	sc := s.x.Scenario()
	plc := r.URL.Query().Get("plc")
	if plc != "" {
		found := false
		for _, p := range sc.PLCs {
			found = found || p.ID == plc
		}
		if !found {
			writeError(w, http.StatusNotFound, "not_found", "no PLC "+strconv.Quote(plc))
			return
		}
	}
	ctx := r.Context()
	tooLarge := func(what string) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the exercise holds over %d %s: export it on the engine's host with icsrange pcap --data DIR --team %s -o FILE", maxPcapRows, what, team))
	}
	pkts, err := pcap.ReadPackets(ctx, s.x.Store(), team, plc, maxPcapRows)
	if errors.Is(err, pcap.ErrTooMany) {
		tooLarge("captured packets")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	var rows []store.TrafficRow
	var opts pcap.Options
	if len(pkts) == 0 {
		rows, err = pcap.ReadRows(ctx, s.x.Store(), team, plc, maxPcapRows)
		if errors.Is(err, pcap.ErrTooMany) {
			tooLarge("transactions")
			return
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		if opts, err = pcap.ExerciseOptions(ctx, s.x.Store(), sc); err != nil {
			s.fail(w, err)
			return
		}
	}
	name := s.x.ID() + "-" + team
	if plc != "" {
		name += "-" + plc
	}
	// Team names and PLC ids are limited to letters, digits, _ . and -,
	// so the name needs no escaping.
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pcap"`)
	w.Header().Set("Cache-Control", "no-store")
	if len(pkts) > 0 {
		_, err = pcap.WritePackets(w, pkts)
	} else {
		_, err = pcap.WriteStats(w, rows, opts)
	}
	if err != nil {
		// The status is sent; the client sees a truncated file.
		s.log.Error("pcap", "team", team, "err", err)
	}
}
