package plantsim

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"
)

// Snapshot is a PLC's saved state: enough to continue the same run after
// the engine restarts. The replay history is not kept. Modbus writes not
// yet latched by a scan are: the engine checkpoints right after an attack
// writes, before the PLC's next scan, and the write must not be lost.
type Snapshot struct {
	Model    string
	V        []float64
	M        []float64
	Over     []SavedOverride
	Stuck    []float64
	Mode     Mode
	Program  int
	Faults   map[string]float64
	CommLoss bool
	Now      time.Duration
	NextPhys time.Duration
	NextScan time.Duration
	Scans    uint64
	RNG      []byte
	Process  []float64
	// Writes waiting for the next scan: register image address → value.
	PendingCoils   map[int]bool
	PendingHolding map[int]uint16
}

// SavedOverride is a reported-view override in a snapshot.
type SavedOverride struct {
	Kind   uint8
	Value  float64
	Replay []float32
	Pos    int
}

// Save returns the PLC's state.
func (p *PLC) Save() (*Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rng, err := p.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save rng: %w", err)
	}
	s := &Snapshot{Model: p.model.Name, V: append([]float64(nil), p.v...), M: append([]float64(nil), p.m...), Stuck: append([]float64(nil), p.stuck...),
		Mode: p.mode, Program: p.program, Faults: map[string]float64{}, CommLoss: p.commLoss,
		Now: p.now, NextPhys: p.nextPhys, NextScan: p.nextScan, Scans: p.scans, RNG: rng,
		Process: p.proc.save()}
	for k, v := range p.faults {
		s.Faults[k] = v
	}
	if p.dirty {
		s.PendingCoils, s.PendingHolding = map[int]bool{}, map[int]uint16{}
		for addr, d := range p.dirtyCoil {
			if d {
				s.PendingCoils[addr] = p.coils[addr]
			}
		}
		for addr, d := range p.dirtyHold {
			if d {
				s.PendingHolding[addr] = p.holding[addr]
			}
		}
	}
	s.Over = make([]SavedOverride, len(p.over))
	for i, o := range p.over {
		s.Over[i] = SavedOverride{Kind: uint8(o.kind), Value: o.value, Replay: o.replay, Pos: o.pos}
	}
	return s, nil
}

// Restore loads a snapshot saved from a PLC of the same model.
func (p *PLC) Restore(s *Snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Model != p.model.Name || len(s.V) != len(p.v) || len(s.M) != len(p.m) || len(s.Over) != len(p.over) || len(s.Stuck) != len(p.stuck) {
		return fmt.Errorf("snapshot of a %s PLC does not fit a %s PLC", s.Model, p.model.Name)
	}
	if s.Program < 0 || s.Program >= len(p.model.Programs) {
		return fmt.Errorf("snapshot program %d out of range", s.Program)
	}
	if err := p.src.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("restore rng: %w", err)
	}
	if err := p.proc.load(s.Process); err != nil {
		return fmt.Errorf("restore %s process: %w", p.model.Name, err)
	}
	copy(p.v, s.V)
	copy(p.stuck, s.Stuck)
	for i, o := range s.Over {
		p.over[i] = override{kind: overrideKind(o.Kind), value: o.Value, replay: o.Replay, pos: o.Pos}
		if p.over[i].kind == overrideReplay && (len(o.Replay) == 0 || o.Pos >= len(o.Replay)) {
			p.over[i] = override{}
		}
	}
	p.mode, p.program, p.commLoss = s.Mode, s.Program, s.CommLoss
	clear(p.faults)
	for k, v := range s.Faults {
		p.faults[k] = v
	}
	p.now, p.nextPhys, p.nextScan, p.scans = s.Now, s.NextPhys, s.NextScan, s.Scans
	p.histPos, p.histFull = 0, false
	for i := range p.dirtyCoil {
		p.dirtyCoil[i] = false
	}
	for i := range p.dirtyHold {
		p.dirtyHold[i] = false
	}
	p.dirty = false
	// The measurements are restored, not re-sampled: sampling would draw
	// from the noise source and the run would no longer be the same.
	copy(p.m, s.M)
	p.publish()
	for addr, v := range s.PendingCoils {
		if addr >= 0 && addr < len(p.coils) {
			p.coils[addr], p.dirtyCoil[addr], p.dirty = v, true, true
		}
	}
	for addr, v := range s.PendingHolding {
		if addr >= 0 && addr < len(p.holding) {
			p.writeHolding(addr, v)
		}
	}
	return nil
}

// EncodeSnapshots encodes snapshots for storage. gob keeps NaN (unstuck
// sensors), which JSON cannot.
func EncodeSnapshots(s map[string]*Snapshot) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("encode plant snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeSnapshots decodes what EncodeSnapshots wrote.
func DecodeSnapshots(b []byte) (map[string]*Snapshot, error) {
	var s map[string]*Snapshot
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return nil, fmt.Errorf("decode plant snapshot: %w", err)
	}
	return s, nil
}

// packState/unpackState move a process's internal fields in and out of a
// flat slice; each model lists its fields once, in saveFields.
func packState(fields []*float64, flags []*bool) []float64 {
	out := make([]float64, 0, len(fields)+len(flags))
	for _, f := range fields {
		out = append(out, *f)
	}
	for _, b := range flags {
		out = append(out, b2f(*b))
	}
	return out
}

func unpackState(s []float64, fields []*float64, flags []*bool) error {
	if len(s) != len(fields)+len(flags) {
		return fmt.Errorf("state has %d values, want %d", len(s), len(fields)+len(flags))
	}
	for i, f := range fields {
		*f = s[i]
	}
	for i, b := range flags {
		*b = f2b(s[len(fields)+i])
	}
	return nil
}
