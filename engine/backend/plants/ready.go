package plants

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Ping checks that a PLC answers a Modbus request.
// attribute, when set, is told the check's client address first, so the
// PLC can log the check as the engine's (and the traffic log leave it out).
func Ping(ctx context.Context, addr string, unit byte, attribute func(local string) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := modbus.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if attribute != nil {
		if err := attribute(c.LocalAddr().String()); err != nil {
			return err
		}
	}
	_, err = c.ReadInputRegisters(unit, plantsim.DiagBase+plantsim.DiagMode, 1)
	return err
}

// PingSource and PingNote mark the engine's readiness checks in a PLC's
// records.
const (
	PingSource = "engine"
	PingNote   = "readiness check"
)

// SeedFor derives a PLC's noise seed from the exercise seed, so teams get
// different noise and a rerun gets the same.
func SeedFor(seed uint64, team, plc string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", seed, team, plc)
	return h.Sum64()
}
