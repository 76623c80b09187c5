package plantsim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Config configures one PLC.
type Config struct {
	ID      string        // the PLC's name in its plant ("intake")
	Model   string        // process model name
	Params  Params        // model parameters; missing ones take defaults
	Seed    uint64        // noise seed; the same seed gives the same run
	Noise   float64       // sensor noise multiplier; 0 = none, 1 = the model's nominal noise
	Scan    time.Duration // logic scan period, 20–500 ms; default 100 ms
	Physics time.Duration // physics step; default 50 ms
	UnitID  byte          // Modbus unit id; default 1
}

// withDefaults is cfg with its unset fields at their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Scan == 0 {
		cfg.Scan = DefaultScan
	}
	if cfg.Physics == 0 {
		cfg.Physics = DefaultPhysics
	}
	if cfg.UnitID == 0 {
		cfg.UnitID = DefaultUnitID
	}
	if cfg.ID == "" {
		cfg.ID = cfg.Model
	}
	return cfg
}

// resolve checks cfg (with its defaults) against its model and returns the
// model and the parameters with the model's defaults filled in: New's
// checks, which ProcessConfig.Validate makes before a process starts.
func (cfg Config) resolve() (*Model, Params, error) {
	model, ok := LookupModel(cfg.Model)
	if !ok {
		return nil, nil, fmt.Errorf("unknown model %q (have %v)", cfg.Model, ModelNames())
	}
	cfg = cfg.withDefaults()
	if cfg.Scan < MinScan || cfg.Scan > MaxScan {
		return nil, nil, fmt.Errorf("scan period %v is outside %v..%v", cfg.Scan, MinScan, MaxScan)
	}
	if cfg.Physics < time.Millisecond || cfg.Physics > time.Second {
		return nil, nil, fmt.Errorf("physics step %v is outside 1ms..1s", cfg.Physics)
	}
	if !(cfg.Noise >= 0 && cfg.Noise <= 100) { // NaN too
		return nil, nil, fmt.Errorf("noise %g is outside 0..100", cfg.Noise)
	}
	params, err := cfg.Params.resolve(model.Params)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", model.Name, err)
	}
	return model, params, nil
}

// Scan period limits.
const (
	MinScan        = 20 * time.Millisecond
	MaxScan        = 500 * time.Millisecond
	DefaultScan    = 100 * time.Millisecond
	DefaultPhysics = 50 * time.Millisecond
	// DefaultNoise is a scenario PLC's and a PLC process's noise: the
	// model's nominal (a Config's zero Noise is none).
	DefaultNoise = 1.0
	// DefaultUnitID is the Modbus unit id of a PLC not given one.
	DefaultUnitID byte = 1
	replayHistory      = 60 * time.Second
)

// Mode is the PLC's operating mode.
type Mode string

// PLC modes. Only in run does the logic scan; physics and the safety layer
// go on in every mode.
const (
	ModeStop    Mode = "stop"
	ModeRun     Mode = "run"
	ModeProgram Mode = "program"
	ModeFault   Mode = "fault"
)

func (m Mode) code() uint16 {
	switch m {
	case ModeRun:
		return 1
	case ModeProgram:
		return 2
	case ModeFault:
		return 3
	}
	return 0
}

type overrideKind uint8

const (
	noOverride overrideKind = iota
	overrideSpoof
	overrideFreeze
	overrideReplay
)

func (k overrideKind) String() string {
	return [...]string{"", "spoof", "freeze", "replay"}[k]
}

type override struct {
	kind   overrideKind
	value  float64
	replay []float32
	pos    int
}

// PLC is one simulated PLC: a process, its logic, its register image and the
// overrides an attacker has placed on what clients see. Safe for concurrent
// use: scans, physics, Modbus requests and management calls share one lock,
// as in OpenPLC.
type PLC struct {
	mu     sync.Mutex
	cfg    Config
	model  *Model
	layout *Layout
	proc   Process
	rng    *rand.Rand
	src    *rand.PCG
	params Params

	v, m, r []float64 // truth/memory, measured, reported
	net     []bool    // tags written over the network since the last scan
	over    []override
	stuck   []float64 // NaN = not stuck

	coils, discretes []bool
	input, holding   []uint16
	dirtyCoil        []bool
	dirtyHold        []bool
	dirty            bool

	now, nextPhys, nextScan time.Duration
	scans                   uint64
	mode                    Mode
	program                 int
	commLoss                bool
	faults                  map[string]float64

	// history keeps the last minute of measured values of every reportable
	// tag, one sample per scan, for replay attacks.
	history  [][]float32
	histLen  int
	histPos  int
	histFull bool

	deviceID deviceIdentity

	rec       *recorder
	auditTags []int     // trip and bypass tags, watched for the audit trail
	auditPrev []float64 // their values at the last scan

	// watchers are told after every scan (IEC 104 spontaneous
	// transmission, OPC UA sampling); each channel holds one signal.
	watchers []chan struct{}
}

type deviceIdentity struct {
	vendor, product, model, app string
}

// New creates a PLC at exercise time zero, in run mode.
func New(cfg Config) (*PLC, error) {
	model, params, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := len(model.Tags)
	p := &PLC{
		cfg: cfg, model: model, layout: model.Layout(), params: params,
		proc:  model.New(params),
		src:   rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15),
		v:     make([]float64, n),
		m:     make([]float64, n),
		r:     make([]float64, n),
		net:   make([]bool, n),
		over:  make([]override, n),
		stuck: make([]float64, n),
		mode:  ModeRun, faults: map[string]float64{},
		nextPhys: cfg.Physics, nextScan: cfg.Scan,
		deviceID: deviceIdentity{vendor: "icsrange", product: "ICSR-" + model.Name, model: model.Title, app: cfg.ID},
	}
	p.rng = rand.New(p.src)
	l := p.layout
	p.coils = make([]bool, l.size[Coil])
	p.discretes = make([]bool, l.size[DiscreteInput])
	p.input = make([]uint16, l.size[InputRegister])
	p.holding = make([]uint16, l.size[HoldingRegister])
	p.dirtyCoil = make([]bool, l.size[Coil])
	p.dirtyHold = make([]bool, l.size[HoldingRegister])
	for i := range p.stuck {
		p.stuck[i] = math.NaN()
	}
	p.histLen = int(replayHistory / cfg.Scan)
	p.history = make([][]float32, n)
	for i, t := range model.Tags {
		if t.Table == DiscreteInput || t.Table == InputRegister {
			p.history[i] = make([]float32, p.histLen)
		}
	}
	p.rec = newRecorder()
	for i, t := range model.Tags {
		if t.Class == ClassTrip || t.Class == ClassBypass {
			p.auditTags = append(p.auditTags, i)
		}
	}
	p.proc.Init(p.v)
	p.auditPrev = make([]float64, len(p.auditTags))
	for k, i := range p.auditTags {
		p.auditPrev[k] = p.v[i]
	}
	p.measure()
	p.publish()
	return p, nil
}

// ID returns the PLC's id.
func (p *PLC) ID() string { return p.cfg.ID }

// Model returns the PLC's process model.
func (p *PLC) Model() *Model { return p.model }

// Layout returns the PLC's register map.
func (p *PLC) Layout() *Layout { return p.layout }

// UnitID returns the configured Modbus unit id.
func (p *PLC) UnitID() byte { return p.cfg.UnitID }

// ScanPeriod returns the logic scan period.
func (p *PLC) ScanPeriod() time.Duration { return p.cfg.Scan }

// Advance runs physics steps and scans until the PLC's clock reaches t.
// The engine calls it with its exercise clock, so pausing the exercise
// pauses the plant; a standalone PLC calls it with wall time.
func (p *PLC) Advance(t time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.nextPhys <= p.nextScan {
			if p.nextPhys > t {
				break
			}
			p.now = p.nextPhys
			p.proc.Step(p.v, p.cfg.Physics.Seconds())
			p.nextPhys += p.cfg.Physics
		} else {
			if p.nextScan > t {
				break
			}
			p.now = p.nextScan
			p.scan()
			p.nextScan += p.cfg.Scan
		}
	}
	if t > p.now {
		p.now = t
	}
}

// Now returns the PLC's clock.
func (p *PLC) Now() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

// scan is one PLC scan: latch inputs and client writes, run the logic,
// publish outputs.
func (p *PLC) scan() {
	p.latch()
	p.measure()
	if p.mode == ModeRun {
		p.proc.Scan(p.v, p.m, p.net, p.cfg.Scan.Seconds(), p.program)
	}
	clear(p.net)
	p.scans++
	p.recordHistory()
	p.publish()
	for k, i := range p.auditTags {
		if now := p.v[i]; now != p.auditPrev[k] {
			p.auditPrev[k] = now
			t := &p.model.Tags[i]
			kind, state := "trip", "cleared"
			if t.Class == ClassBypass {
				kind, state = "bypass", "off"
			}
			if now >= 0.5 {
				state = map[string]string{"trip": "set", "bypass": "on"}[kind]
			}
			p.audit(p.now, kind, "", fmt.Sprintf("%s %s", t.Name, state))
		}
	}
	// Replays move on after publishing, so the first scan shows the oldest
	// recorded sample.
	for i := range p.over {
		if o := &p.over[i]; o.kind == overrideReplay {
			o.pos = (o.pos + 1) % len(o.replay)
		}
	}
	for _, w := range p.watchers {
		select {
		case w <- struct{}{}:
		default: // the watcher has not seen the last one yet: one is enough
		}
	}
}

// watchScans returns a channel that receives after scans (at most one
// signal waits) and a function that stops it.
func (p *PLC) watchScans() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.watchers = append(p.watchers, ch)
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, w := range p.watchers {
			if w == ch {
				p.watchers = append(p.watchers[:i], p.watchers[i+1:]...)
				break
			}
		}
	}
}

// latch copies client writes from the register image into PLC memory.
func (p *PLC) latch() {
	if !p.dirty {
		return
	}
	l := p.layout
	for addr, d := range p.dirtyCoil {
		if d {
			tag := l.Tables[Coil][addr]
			p.v[tag] = b2f(p.coils[addr])
			p.net[tag] = true
			p.dirtyCoil[addr] = false
		}
	}
	for n, tag := range l.Tables[HoldingRegister] {
		def := &p.model.Tags[tag]
		fa := l.Float[tag]
		switch {
		case p.dirtyHold[fa] || p.dirtyHold[fa+1]:
			f := float64(math.Float32frombits(uint32(p.holding[fa])<<16 | uint32(p.holding[fa+1])))
			if !math.IsNaN(f) {
				p.v[tag] = def.Clamp(f)
			}
			p.net[tag] = true
		case p.dirtyHold[n]:
			p.v[tag] = def.Unscale(p.holding[n])
			p.net[tag] = true
		}
		p.dirtyHold[n], p.dirtyHold[fa], p.dirtyHold[fa+1] = false, false, false
	}
	p.dirty = false
}

// measure samples the sensors: truth plus noise, or a stuck reading.
func (p *PLC) measure() {
	for i := range p.model.Tags {
		t := &p.model.Tags[i]
		v := p.v[i]
		if t.Noise > 0 && p.cfg.Noise > 0 {
			v = t.Clamp(v + p.rng.NormFloat64()*t.Noise*p.cfg.Noise*(t.Max-t.Min))
		}
		if !math.IsNaN(p.stuck[i]) {
			v = p.stuck[i]
		}
		p.m[i] = v
	}
}

// recordHistory appends the scan's measurements to the replay history.
func (p *PLC) recordHistory() {
	for i, h := range p.history {
		if h != nil {
			h[p.histPos] = float32(p.m[i])
		}
	}
	p.histPos++
	if p.histPos == p.histLen {
		p.histPos, p.histFull = 0, true
	}
}

// publish writes PLC memory and the reported view into the register image.
func (p *PLC) publish() {
	l := p.layout
	for i := range p.model.Tags {
		t := &p.model.Tags[i]
		switch t.Table {
		case Coil:
			p.coils[l.Addr[i]] = f2b(p.v[i])
		case HoldingRegister:
			p.encode(p.holding, i, p.v[i])
		case DiscreteInput, InputRegister:
			r := p.reported(i)
			p.r[i] = r
			if t.Table == DiscreteInput {
				p.discretes[l.Addr[i]] = f2b(r)
			} else {
				p.encode(p.input, i, r)
			}
		}
	}
	d := p.input[DiagBase:]
	d[DiagScanCountHi], d[DiagScanCountLo] = uint16(p.scans>>16), uint16(p.scans)
	up := uint32(p.now / time.Second)
	d[DiagUptimeHi], d[DiagUptimeLo] = uint16(up>>16), uint16(up)
	sum := p.model.Checksum(p.program)
	d[DiagChecksumHi], d[DiagChecksumLo] = uint16(sum>>16), uint16(sum)
	d[DiagMode] = p.mode.code()
	d[DiagScanMs] = uint16(p.cfg.Scan / time.Millisecond)
}

func (p *PLC) encode(img []uint16, tag int, v float64) {
	def := &p.model.Tags[tag]
	img[p.layout.Addr[tag]] = def.Scale(v)
	fa := p.layout.Float[tag]
	b := math.Float32bits(float32(v))
	img[fa], img[fa+1] = uint16(b>>16), uint16(b)
}

// reported is what a Modbus client sees for tag i this scan.
func (p *PLC) reported(i int) float64 {
	o := &p.over[i]
	switch o.kind {
	case overrideSpoof, overrideFreeze:
		return o.value
	case overrideReplay:
		return float64(o.replay[o.pos])
	}
	return p.m[i]
}

// ErrUnknownTag is returned for a tag the model does not have.
var ErrUnknownTag = errors.New("unknown tag")

func (p *PLC) tag(name string) (int, error) {
	i, ok := p.model.Tag(name)
	if !ok {
		return 0, fmt.Errorf("%w %q for model %s", ErrUnknownTag, name, p.model.Name)
	}
	return i, nil
}
