package plants

import (
	"maps"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// ProcessConfig is how every backend runs team's copy of the plan's PLC
// p: the scenario's settings over the PLC's own defaults (a zero in the
// plan means the default), the team's noise seed, on the engine's clock.
// The Docker backend adds where the process listens, its token, routes
// and capture and runs its Args; the Terraform backend hands its Args to
// the module, which adds where it listens and its token; in-process, its
// PLC and Server configurations start the PLC.
func ProcessConfig(seed uint64, team string, p plant.PLC) plantsim.ProcessConfig {
	c := plantsim.ProcessDefaults()
	c.ID, c.Model = p.ID, p.Model
	c.Params = maps.Clone(p.Params)
	c.Seed = SeedFor(seed, team, p.ID)
	c.Noise = p.Noise
	c.Clock = plantsim.ClockEngine
	if p.UnitID != 0 {
		c.UnitID = p.UnitID
	}
	if p.Scan != 0 {
		c.Scan = p.Scan
	}
	if p.FrameTimeout != 0 {
		c.FrameTimeout = p.FrameTimeout
	}
	return c
}
