package plants

import plantsim "github.com/icsrange/icsrange/plant-sim"

// Remote is the handle on a PLC in another process (a Terraform-made
// process, a container): its management API client is the handle as is.
func Remote(addr, token string) PLC { return plantsim.NewMgmtClient(addr, token) }

var _ PLC = (*plantsim.MgmtClient)(nil)
