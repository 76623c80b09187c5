package engine

import plantsim "github.com/icsrange/icsrange/plant-sim"

// sampled says which tags the report's samples keep: every process value
// (truth and what the HMI showed), and the setpoints and alarm limits that
// apply to one, so the report draws them as they were (an attack may have
// written them).
func sampled(t plantsim.TagDef) bool {
	return t.Table == plantsim.InputRegister || (t.Table == plantsim.HoldingRegister && t.Of != "")
}
