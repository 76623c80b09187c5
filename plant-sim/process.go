package plantsim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/capture"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

// ProcessConfig is everything an `icsrange plc` process runs with: the PLC
// (Config), its Modbus server (ServerConfig), where it listens, its clock,
// its packet capture and its routes. It is the one place the PLC's command
// line is declared: the command binds its flags through Bind, the Docker
// backend and the Terraform modules run the arguments Args renders, and
// ParseProcess reads them back. Config stays the model's configuration
// (what New takes, in-process as out).
//
// Its zero value is not the defaults: start from ProcessDefaults. A
// backend sets what the plan says and leaves the rest, so Args renders
// only what differs from the defaults and the PLC applies its own.
//
// Adding a flag: a field here, its line in Bind (a repeatable one with a
// flag.Value that has Items, so Args renders one flag per item), its check
// in Validate, and a non-default value in the round-trip test's fixture,
// which fails until every field is both rendered and parsed. Protocols
// served beside Modbus (IEC 104, OPC UA) go in as fields of their own the
// same way.
type ProcessConfig struct {
	Model  string        // process model name (required)
	ID     string        // the PLC's name; "" for the model's name
	UnitID byte          // Modbus unit id
	Scan   time.Duration // logic scan period
	Seed   uint64        // noise seed
	Noise  float64       // sensor noise multiplier
	Params Params        // model parameters; missing ones take the model's defaults
	Clock  Clock         // what advances the PLC's time

	Listen    string          // Modbus/TCP listen address
	Mgmt      string          // management API listen address
	TokenFile string          // the management token; "" for a new one, printed
	Routes    netsetup.Routes // routes to add before listening

	MaxClients   int           // concurrent Modbus connections
	IdleTimeout  time.Duration // close Modbus connections idle this long
	FrameTimeout time.Duration // a frame begun must be complete within this

	// Modbus/TCP Security: a second listener with TLS and roles from
	// client certificates, when TLSListen is set.
	TLSListen, TLSCert, TLSKey, TLSCA string

	Capture        bool // capture the PLC's packets (GET /v1/packets)
	CapturePackets int  // packets the capture ring holds
	CaptureMiB     int  // MiB the capture ring holds

	// The protocols served beside Modbus (IEC 104, OPC UA) come here,
	// each a struct of its own flags' fields, bound, rendered and checked
	// as above; the round-trip test walks into such structs.
}

// Clock is what advances a PLC process's time.
type Clock string

// Clocks.
const (
	// ClockWall: the process runs its PLC in real time.
	ClockWall Clock = "wall"
	// ClockEngine: the PLC stands still until an engine advances it
	// (POST /v1/advance), as every backend but inproc runs it.
	ClockEngine Clock = "engine"
)

// ProcessDefaults is what `icsrange plc` runs with when given no flags but
// --model: the PLC's and its server's own defaults.
func ProcessDefaults() ProcessConfig {
	return ProcessConfig{
		UnitID: DefaultUnitID, Scan: DefaultScan, Seed: 1, Noise: DefaultNoise, Clock: ClockWall,
		Listen: "127.0.0.1:5020", Mgmt: "127.0.0.1:9020",
		MaxClients: DefaultMaxClients, IdleTimeout: DefaultIdleTimeout, FrameTimeout: DefaultFrameTimeout,
		CapturePackets: capture.DefaultMaxPackets, CaptureMiB: capture.DefaultMaxBytes >> 20,
	}
}

// Capture ring bounds a process may be given: its slots are allocated up
// front.
const (
	MaxCapturePackets = 1_000_000
	MaxCaptureMiB     = 1024
)

// Bind defines every flag of c on fs, each bound to its field, with c's
// current values as the defaults the help shows.
func (c *ProcessConfig) Bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Model, "model", c.Model, "process model: "+strings.Join(ModelNames(), ", "))
	fs.StringVar(&c.ID, "id", c.ID, "PLC name (device identification and logs); default the model name")
	fs.Var((*unitValue)(&c.UnitID), "unit-id", "Modbus unit `id` (0 and 255 are always answered too)")
	fs.DurationVar(&c.Scan, "scan", c.Scan, fmt.Sprintf("logic scan period (%v..%v)", MinScan, MaxScan))
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "noise seed; the same seed gives the same run")
	fs.Float64Var(&c.Noise, "noise", c.Noise, "sensor noise multiplier (0 = none)")
	fs.Var((*paramsValue)(&c.Params), "param", "model parameter `name=value` (repeatable)")
	fs.StringVar((*string)(&c.Clock), "clock", string(c.Clock), "wall: run in real time; engine: stand still until an engine advances it (POST /v1/advance)")

	fs.StringVar(&c.Listen, "listen", c.Listen, "Modbus/TCP listen address")
	fs.StringVar(&c.Mgmt, "mgmt", c.Mgmt, "management API listen address (keep it off trainee networks)")
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "file holding the management API bearer token (default: a new token, printed)")
	fs.Var((*routesValue)(&c.Routes), "route", "route `CIDR=GW` to add before listening, e.g. 10.128.2.0/24=10.128.1.254 (repeatable; needs CAP_NET_ADMIN, then every capability is dropped)")

	fs.IntVar(&c.MaxClients, "max-clients", c.MaxClients, "concurrent Modbus connections")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close Modbus connections idle this long")
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", c.FrameTimeout, fmt.Sprintf("close a Modbus connection that begins a request frame and does not complete it this long after (%v..%v)", MinFrameTimeout, MaxFrameTimeout))

	fs.StringVar(&c.TLSListen, "tls-listen", c.TLSListen, "also serve Modbus/TCP Security (TLS, roles from client certificates) here, e.g. 127.0.0.1:802")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "server certificate (PEM) for --tls-listen")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "server key (PEM) for --tls-listen")
	fs.StringVar(&c.TLSCA, "tls-ca", c.TLSCA, "CA (PEM) that signs client certificates for --tls-listen")

	fs.BoolVar(&c.Capture, "capture", c.Capture, "capture the Modbus packets on every interface, served at GET /v1/packets (needs CAP_NET_RAW, then every capability is dropped)")
	fs.IntVar(&c.CapturePackets, "capture-packets", c.CapturePackets, "packets the capture ring holds")
	fs.IntVar(&c.CaptureMiB, "capture-mib", c.CaptureMiB, "MiB the capture ring holds")
}

// Args renders c as `icsrange plc` arguments (without the subcommand):
// one --name=value for every setting that differs from ProcessDefaults,
// one per item of a repeatable flag, in the order of the command's help
// (by name). ParseProcess(c.Args()) is c.
func (c ProcessConfig) Args() []string {
	def := ProcessDefaults()
	dfs := bindSet(&def)
	var out []string
	bindSet(&c).VisitAll(func(f *flag.Flag) {
		if l, ok := f.Value.(interface{ Items() []string }); ok {
			for _, it := range l.Items() {
				out = append(out, "--"+f.Name+"="+it)
			}
			return
		}
		v := f.Value.String()
		if v == dfs.Lookup(f.Name).Value.String() {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && v == "true" {
			out = append(out, "--"+f.Name)
			return
		}
		out = append(out, "--"+f.Name+"="+v)
	})
	return out
}

// ParseProcess reads `icsrange plc` arguments (without the subcommand)
// over ProcessDefaults and checks the result.
func ParseProcess(args []string) (ProcessConfig, error) {
	c := ProcessDefaults()
	fs := bindSet(&c)
	if err := fs.Parse(args); err != nil {
		return ProcessConfig{}, fmt.Errorf("plc arguments: %w", err)
	}
	if fs.NArg() > 0 {
		return ProcessConfig{}, fmt.Errorf("plc arguments: unexpected argument %q", fs.Arg(0))
	}
	if err := c.Validate(); err != nil {
		return ProcessConfig{}, err
	}
	return c, nil
}

// bindSet is a silent flag set with c's flags.
func bindSet(c *ProcessConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("plc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Bind(fs)
	return fs
}

// Validate checks c as the command would before starting: errors name the
// flag.
func (c ProcessConfig) Validate() error {
	if c.Model == "" {
		return fmt.Errorf("--model is required (one of %s)", strings.Join(ModelNames(), ", "))
	}
	if _, ok := LookupModel(c.Model); !ok {
		return fmt.Errorf("unknown model %q (have %s)", c.Model, strings.Join(ModelNames(), ", "))
	}
	if c.UnitID > 247 && c.UnitID != 255 {
		return fmt.Errorf("--unit-id %d is outside 1..247", c.UnitID)
	}
	if c.Clock != ClockWall && c.Clock != ClockEngine {
		return errors.New("--clock must be wall or engine")
	}
	if c.FrameTimeout < MinFrameTimeout || c.FrameTimeout > MaxFrameTimeout {
		return fmt.Errorf("--frame-timeout %v is outside %v..%v", c.FrameTimeout, MinFrameTimeout, MaxFrameTimeout)
	}
	if c.TLSListen != "" && (c.TLSCert == "" || c.TLSKey == "" || c.TLSCA == "") {
		return errors.New("--tls-listen needs --tls-cert, --tls-key and --tls-ca")
	}
	if c.Capture {
		if _, err := c.ModbusPort(); err != nil {
			return fmt.Errorf("--capture needs --listen with a fixed port, not %q", c.Listen)
		}
		if c.CapturePackets < 1 || c.CapturePackets > MaxCapturePackets || c.CaptureMiB < 1 || c.CaptureMiB > MaxCaptureMiB {
			return fmt.Errorf("--capture-packets must be 1..%d and --capture-mib 1..%d", MaxCapturePackets, MaxCaptureMiB)
		}
	}
	// The scan period, the noise and the parameters: as New checks them.
	if _, _, err := c.PLC().resolve(); err != nil {
		return err
	}
	return nil
}

// PLC is the configuration New takes.
func (c ProcessConfig) PLC() Config {
	return Config{ID: c.ID, Model: c.Model, Params: c.Params, Seed: c.Seed, Noise: c.Noise, Scan: c.Scan, UnitID: c.UnitID}
}

// Server is the configuration of the Modbus server (TLS, which needs the
// files read, aside).
func (c ProcessConfig) Server() ServerConfig {
	return ServerConfig{MaxClients: c.MaxClients, IdleTimeout: c.IdleTimeout, FrameTimeout: c.FrameTimeout}
}

// ModbusPort is the port of the Modbus listen address; an error if it has
// none or 0 (the capture must know it before listening).
func (c ProcessConfig) ModbusPort() (uint16, error) {
	_, p, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("no fixed port in %q", c.Listen)
	}
	return uint16(port), nil
}

// unitValue is a Modbus unit id flag.
type unitValue byte

func (u *unitValue) String() string { return strconv.Itoa(int(*u)) }
func (u *unitValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return fmt.Errorf("want 0..255: %w", err)
	}
	*u = unitValue(n)
	return nil
}

// paramsValue collects repeated --param name=value flags.
type paramsValue Params

func (p *paramsValue) String() string { return strings.Join(p.Items(), ",") }
func (p *paramsValue) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("param %s: %w", k, err)
	}
	if *p == nil {
		*p = paramsValue{}
	}
	(*p)[k] = f
	return nil
}

// Items are the parameters as name=value, by name.
func (p *paramsValue) Items() []string {
	out := make([]string, 0, len(*p))
	for k, v := range *p {
		out = append(out, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
	}
	sort.Strings(out)
	return out
}

// routesValue is netsetup.Routes as a repeatable flag Args can render.
type routesValue netsetup.Routes

func (r *routesValue) String() string     { return (*netsetup.Routes)(r).String() }
func (r *routesValue) Set(s string) error { return (*netsetup.Routes)(r).Set(s) }

// Items are the routes as CIDR=GW, in the order given.
func (r *routesValue) Items() []string {
	out := make([]string, len(*r))
	for i, rt := range *r {
		out[i] = rt.String()
	}
	return out
}
