package plants

import (
	"context"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
)

// packetHandle is a PLC handle that can fetch the PLC's captured packets:
// the management API client of a PLC in another process.
type packetHandle interface {
	Packets(ctx context.Context, after uint64, max int) (capture.Page, error)
}

// Packets returns a team's PLC's captured packets after seq. A handle
// that has none (an in-process PLC) answers capture.ErrOff, as does a
// remote PLC started without --capture.
func (d *Deployment) Packets(ctx context.Context, teamName, id string, after uint64, max int) (capture.Page, error) {
	_, p, err := d.lookup(teamName, id)
	if err != nil {
		return capture.Page{}, err
	}
	h, ok := p.Handle.(packetHandle)
	if !ok {
		return capture.Page{}, capture.ErrOff
	}
	return h.Packets(ctx, after, max)
}

var (
	_ backend.PacketSource = (*Deployment)(nil)
	_ packetHandle         = (*plantsim.MgmtClient)(nil)
)
