package scoreboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/icsrange/icsrange/engine/pcap"
)

// MaxPcapRows bounds a pcap download: a log larger than this is for
// `icsrange pcap` on the engine's host.
const MaxPcapRows = 200_000

// maxPcapRows is the bound in force (tests lower it).
var maxPcapRows = MaxPcapRows

// getPcap serves a team's Modbus traffic as a pcap file: a team its own,
// the instructor any team's.
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
	rows, err := pcap.ReadRows(ctx, s.x.Store(), team, plc, maxPcapRows)
	if errors.Is(err, pcap.ErrTooMany) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the traffic log holds over %d transactions: export it on the engine's host with icsrange pcap --data DIR --team %s -o FILE", maxPcapRows, team))
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	opts, err := pcap.ExerciseOptions(ctx, s.x.Store(), sc)
	if err != nil {
		s.fail(w, err)
		return
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
	if _, err := pcap.WriteStats(w, rows, opts); err != nil {
		// The status is sent; the client sees a truncated file.
		s.log.Error("pcap", "team", team, "err", err)
	}
}
