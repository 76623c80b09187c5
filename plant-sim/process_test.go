package plantsim_test

import (
	"flag"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

// everyField is a process configuration with every field away from its
// default.
func everyField(t testing.TB) plantsim.ProcessConfig {
	var routes netsetup.Routes
	for _, r := range []string{"10.128.2.0/24=10.128.1.254", "10.128.3.0/24=10.128.1.254"} {
		if err := routes.Set(r); err != nil {
			t.Fatal(err)
		}
	}
	return plantsim.ProcessConfig{
		Model: "water-tank", ID: "intake", UnitID: 7, Scan: 50 * time.Millisecond,
		Seed:   1<<63 + 5, // beyond a float's precision
		Noise:  0,         // a zero that means something: no noise
		Params: plantsim.Params{"level0_m": 2.5, "area_m2": 3.25}, Clock: plantsim.ClockEngine,
		Listen: "0.0.0.0:502", Mgmt: "10.128.0.10:9020", TokenFile: "/run/icsrange/token", Routes: routes,
		MaxClients: 4, IdleTimeout: 90 * time.Second, FrameTimeout: 7 * time.Second,
		TLSListen: "127.0.0.1:802", TLSCert: "server.pem", TLSKey: "server.key", TLSCA: "ca.pem",
		Capture: true, CapturePackets: 1000, CaptureMiB: 2,
	}
}

// Every field of the PLC process's configuration survives Args and
// ParseProcess, and the fixture leaves none at its default (so a field
// added without being rendered or parsed fails here).
func TestProcessConfigRoundTrip(t *testing.T) {
	c := everyField(t)
	def := plantsim.ProcessDefaults()
	allSet(t, "", reflect.ValueOf(c), reflect.ValueOf(def))
	args := c.Args()
	got, err := plantsim.ParseProcess(args)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip through %q:\n got %+v\nwant %+v", args, got, c)
	}
	// Every flag Bind defines is among them: none is bound but not
	// exercised.
	fs := flag.NewFlagSet("plc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def.Bind(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.ContainsFunc(args, func(a string) bool { return a == "--"+f.Name || strings.HasPrefix(a, "--"+f.Name+"=") }) {
			t.Errorf("--%s is not in the fixture's arguments %q", f.Name, args)
		}
	})
	// The other spellings the command takes read the same.
	spaced := []string{"-model", "water-tank", "--id", "intake", "--unit-id", "7", "--scan", "50ms", "--seed", "9223372036854775813",
		"--noise", "0", "--param", "area_m2=3.25", "--param=level0_m=2.5", "--clock", "engine", "--listen", "0.0.0.0:502",
		"--mgmt", "10.128.0.10:9020", "--token-file", "/run/icsrange/token", "--route", "10.128.2.0/24=10.128.1.254",
		"--route", "10.128.3.0/24=10.128.1.254", "--max-clients", "4", "--idle-timeout", "1m30s", "--frame-timeout", "7s",
		"--tls-listen", "127.0.0.1:802", "--tls-cert", "server.pem", "--tls-key", "server.key", "--tls-ca", "ca.pem",
		"--capture=true", "--capture-packets", "1000", "--capture-mib", "2"}
	if got, err := plantsim.ParseProcess(spaced); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("parse %q: %v\n got %+v\nwant %+v", spaced, err, got, c)
	}
}

// allSet fails for every field of c (into nested structs, as a section
// of flags would be) that is at its value in def.
func allSet(t *testing.T, path string, c, def reflect.Value) {
	t.Helper()
	for i := range c.NumField() {
		f := c.Type().Field(i)
		cf, df := c.Field(i), def.Field(i)
		if f.Type.Kind() == reflect.Struct {
			allSet(t, path+f.Name+".", cf, df)
			continue
		}
		if reflect.DeepEqual(cf.Interface(), df.Interface()) {
			t.Errorf("the fixture leaves %s%s at its default: give it another value", path, f.Name)
		}
	}
}

// The defaults render as nothing but what has none (the model), and a
// value set to its default is left to the PLC.
func TestProcessConfigDefaults(t *testing.T) {
	c := plantsim.ProcessDefaults()
	c.Model = "breaker"
	if got := c.Args(); !slices.Equal(got, []string{"--model=breaker"}) {
		t.Fatalf("defaults render as %q", got)
	}
	got, err := plantsim.ParseProcess([]string{"--model=breaker"})
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("parse --model alone: %+v, %v; want %+v", got, err, c)
	}
	c.Clock, c.Noise, c.Scan = plantsim.ClockEngine, 1, plantsim.DefaultScan
	if got := c.Args(); !slices.Equal(got, []string{"--clock=engine", "--model=breaker"}) {
		t.Fatalf("engine clock, default noise and scan render as %q", got)
	}
	// What the PLC and its server take from it.
	if pc := c.PLC(); pc.Scan != plantsim.DefaultScan || pc.UnitID != 1 || pc.Noise != 1 || pc.Model != "breaker" {
		t.Fatalf("PLC config %+v", pc)
	}
	if sc := c.Server(); sc.MaxClients != plantsim.DefaultMaxClients || sc.IdleTimeout != plantsim.DefaultIdleTimeout || sc.FrameTimeout != plantsim.DefaultFrameTimeout {
		t.Fatalf("server config %+v", sc)
	}
}

// Bad arguments are errors naming the flag.
func TestParseProcessErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--model is required"},
		{[]string{"--model", "steam-engine"}, `unknown model "steam-engine"`},
		{[]string{"--model", "water-tank", "extra"}, `unexpected argument "extra"`},
		{[]string{"--model", "water-tank", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--model", "water-tank", "--unit-id", "248"}, "--unit-id 248 is outside 1..247"},
		{[]string{"--model", "water-tank", "--unit-id", "256"}, "want 0..255"},
		{[]string{"--model", "water-tank", "--clock", "lunar"}, "--clock must be wall or engine"},
		{[]string{"--model", "water-tank", "--frame-timeout", "500ms"}, "--frame-timeout 500ms is outside 1s..1m0s"},
		{[]string{"--model", "water-tank", "--tls-listen", ":802", "--tls-cert", "c.pem"}, "--tls-listen needs --tls-cert, --tls-key and --tls-ca"},
		{[]string{"--model", "water-tank", "--capture", "--listen", "127.0.0.1:0"}, `--capture needs --listen with a fixed port, not "127.0.0.1:0"`},
		{[]string{"--model", "water-tank", "--capture", "--capture-mib", "2048"}, "--capture-mib 1..1024"},
		{[]string{"--model", "water-tank", "--scan", "5ms"}, "scan period 5ms is outside 20ms..500ms"},
		{[]string{"--model", "water-tank", "--noise", "NaN"}, "noise NaN is outside 0..100"},
		{[]string{"--model", "water-tank", "--param", "level0_m=99"}, "param level0_m = 99 is outside"},
		{[]string{"--model", "water-tank", "--param", "depth=1"}, `unknown param "depth"`},
		{[]string{"--model", "water-tank", "--param", "depth"}, "want name=value"},
		{[]string{"--model", "water-tank", "--route", "10.1.0.0/24"}, "want CIDR=GATEWAY"},
	} {
		_, err := plantsim.ParseProcess(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// Whatever arguments parse, the configuration they give renders to
// arguments that parse to it again.
func FuzzProcessArgs(f *testing.F) {
	f.Add(strings.Join(everyField(f).Args(), "\n"))
	f.Add("--model=breaker\n--clock=engine\n--seed=18446744073709551615")
	f.Add("--model\nreactor\n--noise\n0.5\n--param\ncool_kw=3e2\n--scan=20ms")
	f.Add("--model=water-tank\n--id=\n--listen=[::1]:5020\n--capture\n--unit-id=255")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := plantsim.ParseProcess(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		args := c.Args()
		again, err := plantsim.ParseProcess(args)
		if err != nil {
			t.Fatalf("%q parsed, its rendering %q does not: %v", s, args, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("%q: through %q\n got %+v\nwant %+v", s, args, again, c)
		}
	})
}
