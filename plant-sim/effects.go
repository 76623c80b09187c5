package plantsim

import (
	"fmt"
	"math"
	"time"
)

// Effect kinds the management API and the engine apply to a PLC.
const (
	EffectSpoof      = "spoof"       // reported tag shows Value
	EffectFreeze     = "freeze"      // reported tag holds its current value
	EffectReplay     = "replay"      // reported tag loops its last Window seconds
	EffectRelease    = "release"     // reported tag shows the measurement again
	EffectMode       = "mode"        // PLC mode: run, stop, program
	EffectLogic      = "logic"       // replace the logic program
	EffectFault      = "fault"       // start a fault (generic or the model's)
	EffectClearFault = "clear_fault" // clear a fault
	EffectWrite      = "write"       // write PLC memory (a coil or holding tag), as an engineering tool would
)

// Effect is one change to a PLC. Which fields matter depends on Kind.
type Effect struct {
	Kind    string   `json:"effect"`
	Tag     string   `json:"tag,omitempty"`
	Value   *float64 `json:"value,omitempty"`
	Window  float64  `json:"window_s,omitempty"`
	Mode    Mode     `json:"mode,omitempty"`
	Program string   `json:"program,omitempty"`
	Fault   string   `json:"fault,omitempty"`
}

// Apply applies an effect. Errors say what was wrong with the effect; the
// PLC is unchanged when one is returned.
func (p *PLC) Apply(e Effect) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case EffectSpoof, EffectFreeze, EffectReplay, EffectRelease:
		return p.applyOverride(e)
	case EffectMode:
		switch e.Mode {
		case ModeRun, ModeStop, ModeProgram:
		default:
			return fmt.Errorf("mode %q is not one of run, stop, program", e.Mode)
		}
		if p.mode == ModeFault {
			return fmt.Errorf("the PLC is in fault; clear %s first", FaultCPU)
		}
		if p.mode != e.Mode {
			p.audit(p.now, "mode", "", fmt.Sprintf("mode %s → %s", p.mode, e.Mode))
		}
		p.mode = e.Mode
	case EffectLogic:
		prog, ok := p.model.Program(e.Program)
		if !ok {
			return fmt.Errorf("model %s has no logic program %q (have %v)", p.model.Name, e.Program, p.model.Programs)
		}
		if prog != p.program {
			p.audit(p.now, "logic", "", fmt.Sprintf("logic %s (checksum %08X) → %s (checksum %08X)",
				p.model.Programs[p.program], p.model.Checksum(p.program), p.model.Programs[prog], p.model.Checksum(prog)))
		}
		p.program = prog
	case EffectFault, EffectClearFault:
		err := p.applyFault(e)
		if err == nil {
			what := e.Fault
			if e.Tag != "" {
				what += " " + e.Tag
			}
			if e.Kind == EffectFault {
				p.audit(p.now, "fault", "", what+" started")
			} else {
				p.audit(p.now, "fault", "", what+" cleared")
			}
		}
		return err
	case EffectWrite:
		i, err := p.tag(e.Tag)
		if err != nil {
			return err
		}
		t := &p.model.Tags[i]
		if t.Table != Coil && t.Table != HoldingRegister {
			return fmt.Errorf("tag %s is a %s; only coils and holding registers can be written", t.Name, t.Table)
		}
		if e.Value == nil || math.IsNaN(*e.Value) || math.IsInf(*e.Value, 0) {
			return fmt.Errorf("write to %s needs a finite value", t.Name)
		}
		p.writeMemory(i, *e.Value)
	default:
		return fmt.Errorf("unknown effect %q", e.Kind)
	}
	p.publishDiag()
	return nil
}

// writeMemory sets a coil or holding tag and its registers at once, dropping
// any client write to it still waiting for the next scan.
func (p *PLC) writeMemory(i int, v float64) {
	t := &p.model.Tags[i]
	l := p.layout
	if t.Table == Coil {
		p.v[i] = b2f(v >= 0.5)
		p.coils[l.Addr[i]] = v >= 0.5
		p.dirtyCoil[l.Addr[i]] = false
		return
	}
	p.v[i] = t.Clamp(v)
	p.encode(p.holding, i, p.v[i])
	fa := l.Float[i]
	p.dirtyHold[l.Addr[i]], p.dirtyHold[fa], p.dirtyHold[fa+1] = false, false, false
}

func (p *PLC) applyOverride(e Effect) error {
	i, err := p.tag(e.Tag)
	if err != nil {
		return err
	}
	t := &p.model.Tags[i]
	if t.Table != DiscreteInput && t.Table != InputRegister {
		return fmt.Errorf("tag %s is a %s; only discrete inputs and input registers have a reported view", t.Name, t.Table)
	}
	o := &p.over[i]
	switch e.Kind {
	case EffectSpoof:
		if e.Value == nil || math.IsNaN(*e.Value) || math.IsInf(*e.Value, 0) {
			return fmt.Errorf("spoof of %s needs a finite value", t.Name)
		}
		v := *e.Value
		if t.Table == DiscreteInput {
			v = b2f(v >= 0.5)
		}
		*o = override{kind: overrideSpoof, value: v}
	case EffectFreeze:
		*o = override{kind: overrideFreeze, value: p.r[i]}
	case EffectReplay:
		w := e.Window
		if w <= 0 {
			w = 20
		}
		have := p.histPos
		if p.histFull {
			have = p.histLen
		}
		n := int(time.Duration(w*float64(time.Second)) / p.cfg.Scan)
		if n > have {
			n = have
		}
		if n < 1 {
			return fmt.Errorf("replay of %s: no history recorded yet", t.Name)
		}
		buf := make([]float32, n)
		for k := range n {
			buf[k] = p.history[i][(p.histPos-n+k+p.histLen)%p.histLen]
		}
		*o = override{kind: overrideReplay, replay: buf}
	case EffectRelease:
		*o = override{}
	}
	return nil
}

func (p *PLC) applyFault(e Effect) error {
	f, ok := p.model.Fault(e.Fault)
	if !ok {
		names := []string{}
		for _, f := range p.model.AllFaults() {
			names = append(names, f.Name)
		}
		return fmt.Errorf("model %s has no fault %q (have %v)", p.model.Name, e.Fault, names)
	}
	on := e.Kind == EffectFault
	val := 0.0
	if e.Value != nil {
		val = *e.Value
	}
	switch f.Name {
	case FaultSensorStuck:
		i, err := p.tag(e.Tag)
		if err != nil {
			return fmt.Errorf("%s needs a tag: %w", FaultSensorStuck, err)
		}
		if t := p.model.Tags[i]; t.Table != InputRegister && t.Table != DiscreteInput {
			return fmt.Errorf("%s: tag %s is a %s, not a sensor", FaultSensorStuck, t.Name, t.Table)
		}
		if on {
			p.stuck[i] = p.m[i]
		} else {
			p.stuck[i] = math.NaN()
		}
		key := FaultSensorStuck + ":" + e.Tag
		if on {
			p.faults[key] = p.m[i]
		} else {
			delete(p.faults, key)
		}
		return nil
	case FaultCommLoss:
		p.commLoss = on
	case FaultCPU:
		if on {
			p.mode = ModeFault
		} else if p.mode == ModeFault {
			p.mode = ModeStop // a faulted CPU restarts into stop; someone has to run it
		}
	default:
		if err := p.proc.Fault(f.Name, val, on); err != nil {
			return err
		}
	}
	if on {
		p.faults[f.Name] = val
	} else {
		delete(p.faults, f.Name)
	}
	return nil
}

func (p *PLC) publishDiag() {
	d := p.input[DiagBase:]
	sum := p.model.Checksum(p.program)
	d[DiagChecksumHi], d[DiagChecksumLo] = uint16(sum>>16), uint16(sum)
	d[DiagMode] = p.mode.code()
}

// Values is a snapshot of a PLC for the engine and the management API.
type Values struct {
	Truth     []float64          `json:"truth"`    // by tag index
	Reported  []float64          `json:"reported"` // by tag index; coils and holding registers equal Truth
	Override  []string           `json:"override"` // by tag index: "", "spoof", "freeze", "replay"
	Mode      Mode               `json:"mode"`
	Program   string             `json:"program"`
	Checksum  uint32             `json:"checksum"`
	ScanCount uint64             `json:"scan_count"`
	Uptime    time.Duration      `json:"uptime_ns"` // the PLC's clock
	Faults    map[string]float64 `json:"faults"`
	CommLoss  bool               `json:"comm_loss"`
}

// Read fills dst, reusing its slices, so the engine's tick allocates nothing.
func (p *PLC) Read(dst *Values) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.v)
	dst.Truth = append(dst.Truth[:0], p.v...)
	dst.Reported = append(dst.Reported[:0], p.v...)
	if cap(dst.Override) < n {
		dst.Override = make([]string, n)
	}
	dst.Override = dst.Override[:n]
	for i := range p.model.Tags {
		if t := p.model.Tags[i].Table; t == DiscreteInput || t == InputRegister {
			dst.Reported[i] = p.r[i]
		}
		dst.Override[i] = p.over[i].kind.String()
	}
	dst.Mode = p.mode
	dst.Program = p.model.Programs[p.program]
	dst.Checksum = p.model.Checksum(p.program)
	dst.ScanCount = p.scans
	dst.Uptime = p.now
	if dst.Faults == nil {
		dst.Faults = map[string]float64{}
	}
	clear(dst.Faults)
	for k, v := range p.faults {
		dst.Faults[k] = v
	}
	dst.CommLoss = p.commLoss
}
