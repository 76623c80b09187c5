package scenario

import (
	"fmt"
	"net/netip"
	"strings"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// validatePlant checks zones, conduits, PLCs and hosts, and returns the
// ids it found by kind (zone, conduit, plc, host) for the checks of
// references after it.
func (l *loader) validatePlant(s *Spec) map[string]map[string]bool {
	ids := map[string]map[string]bool{"zone": {}, "plc": {}, "host": {}, "conduit": {}}
	p := s.Plant
	if len(p.Zones) == 0 && l.has("plant") {
		l.at("plant", "plant needs at least one zone")
	}
	for i, z := range p.Zones {
		path := fmt.Sprintf("plant.zones[%d]", i)
		switch {
		case !idRe.MatchString(z.ID):
			l.at(path+".id", "zone id %q: start with a letter; use lowercase letters, digits, _ and -", z.ID)
		case ids["zone"][z.ID]:
			l.at(path+".id", "duplicate zone %q", z.ID)
		}
		ids["zone"][z.ID] = true
	}
	seenConduit := map[[2]string]bool{}
	for i, c := range p.Conduits {
		path := fmt.Sprintf("plant.conduits[%d]", i)
		if !ids["zone"][c.From] {
			l.at(path+".from", "unknown zone %q", c.From)
		}
		if !ids["zone"][c.To] {
			l.at(path+".to", "unknown zone %q", c.To)
		}
		if c.From == c.To {
			l.at(path, "a conduit joins two different zones")
		}
		if seenConduit[[2]string{c.From, c.To}] {
			l.at(path, "duplicate conduit %s → %s", c.From, c.To)
		}
		seenConduit[[2]string{c.From, c.To}] = true
		ids["conduit"][c.From+">"+c.To] = true
		for j, port := range c.Ports {
			if port < 1 || port > 65535 {
				l.at(fmt.Sprintf("%s.ports[%d]", path, j), "port %d is outside 1..65535", port)
			}
		}
	}
	if len(p.PLCs) == 0 && l.has("plant") {
		l.at("plant", "plant needs at least one PLC")
	}
	for i, pl := range p.PLCs {
		l.validatePLC(fmt.Sprintf("plant.plcs[%d]", i), pl, ids)
	}
	used := map[string]bool{}
	for i, h := range p.Hosts {
		if h.Address != "" && used[h.Address] {
			l.at(fmt.Sprintf("plant.hosts[%d].address", i), "address %s is already another host's", h.Address)
		}
		used[h.Address] = true
	}
	for i, h := range p.Hosts {
		path := fmt.Sprintf("plant.hosts[%d]", i)
		switch {
		case !idRe.MatchString(h.ID):
			l.at(path+".id", "host id %q: start with a letter; use lowercase letters, digits, _ and -", h.ID)
		case ids["host"][h.ID] || ids["plc"][h.ID]:
			l.at(path+".id", "duplicate host or PLC id %q", h.ID)
		}
		ids["host"][h.ID] = true
		if !hostRoles[h.Role] {
			l.at(path+".role", "host role %q is not one of attacker, workstation, hmi", h.Role)
		}
		if !ids["zone"][h.Zone] {
			l.at(path+".zone", "unknown zone %q", h.Zone)
		}
		if h.Address != "" {
			if a, err := netip.ParseAddr(h.Address); err != nil || !a.Is4() {
				l.at(path+".address", "address %q is not an IPv4 address", h.Address)
			}
		}
	}
	return ids
}

func (l *loader) validatePLC(path string, pl PLCSpec, ids map[string]map[string]bool) {
	switch {
	case !idRe.MatchString(pl.ID):
		l.at(path+".id", "PLC id %q: start with a letter; use lowercase letters, digits, _ and -", pl.ID)
	case ids["plc"][pl.ID]:
		l.at(path+".id", "duplicate PLC %q", pl.ID)
	}
	ids["plc"][pl.ID] = true
	if !ids["zone"][pl.Zone] {
		l.at(path+".zone", "unknown zone %q", pl.Zone)
	}
	m, ok := plantsim.LookupModel(pl.Model)
	if !ok {
		l.at(path+".model", "unknown model %q (have %s)", pl.Model, strings.Join(plantsim.ModelNames(), ", "))
		return
	}
	for _, k := range sortedKeys(pl.Params) {
		d, ok := m.Param(k)
		if !ok {
			names := make([]string, len(m.Params))
			for j, pd := range m.Params {
				names[j] = pd.Name
			}
			l.atKey(path+".params."+k, "model %s has no param %q (have %s)", m.Name, k, strings.Join(names, ", "))
			continue
		}
		if v := pl.Params[k]; v < d.Min || v > d.Max {
			l.at(path+".params."+k, "param %s = %g is outside %g..%g %s", k, v, d.Min, d.Max, d.Unit)
		}
	}
	if pl.UnitID < 0 || pl.UnitID > 247 {
		l.at(path+".unit_id", "unit id %d is outside 1..247", pl.UnitID)
	}
	if sc := pl.Scan.D(); sc != 0 && (sc < plantsim.MinScan || sc > plantsim.MaxScan) {
		l.at(path+".scan", "scan period %v is outside %v..%v", sc, plantsim.MinScan, plantsim.MaxScan)
	}
	if ft := pl.FrameTimeout.D(); ft != 0 && (ft < plantsim.MinFrameTimeout || ft > plantsim.MaxFrameTimeout) {
		l.at(path+".frame_timeout", "frame timeout %v is outside %v..%v", ft, plantsim.MinFrameTimeout, plantsim.MaxFrameTimeout)
	}
	if pl.Noise != nil && (*pl.Noise < 0 || *pl.Noise > 100) {
		l.at(path+".noise", "noise %g is outside 0..100", *pl.Noise)
	}
}
