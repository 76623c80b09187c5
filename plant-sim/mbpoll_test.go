package plantsim_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/internal/testtool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Interop with mbpoll (https://github.com/epsilonrt/mbpoll, Debian package
// mbpoll), the tool trainees are told to use: its 1-based references, its
// -0 for wire addresses and its float word order (-B) must agree with our
// register map.

// mbpoll runs mbpoll against a PLC served at addr and returns its output.
type mbpoll struct {
	t    *testing.T
	path string
	port string
}

func newMbpoll(t *testing.T, addr string) *mbpoll {
	t.Helper()
	path := testtool.Need(t, "mbpoll", "mbpoll")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &mbpoll{t: t, path: path, port: port}
}

// run calls mbpoll with the common TCP options, the given options, the host
// and any values to write.
func (m *mbpoll) run(opts []string, values ...string) (string, error) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-m", "tcp", "-a", "1", "-p", m.port, "-o", "2"}, opts...)
	args = append(args, "127.0.0.1")
	args = append(args, values...)
	out, err := exec.CommandContext(ctx, m.path, args...).CombinedOutput()
	if ctx.Err() != nil {
		m.t.Fatalf("mbpoll %s: timed out\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

// mustRun is run that fails the test when mbpoll does.
func (m *mbpoll) mustRun(opts []string, values ...string) string {
	m.t.Helper()
	out, err := m.run(opts, values...)
	if err != nil {
		m.t.Fatalf("mbpoll %s: %v\n%s", strings.Join(opts, " "), err, out)
	}
	return out
}

// mbpollValue matches "[ref]: value", where mbpoll shows 16-bit registers
// above 32767 as "54299 (-11237)".
var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)(?: \((-?\d+)\))?\s*$`)

// values parses mbpoll's "[ref]: value" lines.
func (m *mbpoll) values(out string) map[int]string {
	m.t.Helper()
	vals := map[int]string{}
	for _, sm := range mbpollValue.FindAllStringSubmatch(out, -1) {
		ref, _ := strconv.Atoi(sm[1])
		vals[ref] = sm[2]
		if sm[3] != "" {
			u, err1 := strconv.Atoi(sm[2])
			s, err2 := strconv.Atoi(sm[3])
			if err1 != nil || err2 != nil || int16(u) != int16(s) {
				m.t.Fatalf("reference %d: %s (%s) disagree", ref, sm[2], sm[3])
			}
		}
	}
	if len(vals) == 0 {
		m.t.Fatalf("no values in mbpoll output:\n%s", out)
	}
	return vals
}

// registers parses 16-bit register output, refs first..first+n-1.
func (m *mbpoll) registers(out string, first, n int) []uint16 {
	m.t.Helper()
	vals := m.values(out)
	regs := make([]uint16, n)
	for i := range regs {
		s, ok := vals[first+i]
		if !ok {
			m.t.Fatalf("mbpoll output has no reference %d:\n%s", first+i, out)
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > math.MaxUint16 {
			m.t.Fatalf("reference %d: %q is not a 16-bit register", first+i, s)
		}
		regs[i] = uint16(v)
	}
	return regs
}

func (m *mbpoll) floats(out string, first, n int) []float64 {
	m.t.Helper()
	vals := m.values(out)
	fs := make([]float64, n)
	for i := range fs {
		ref := first + 2*i
		v, err := strconv.ParseFloat(vals[ref], 64)
		if err != nil {
			m.t.Fatalf("reference %d: %v\n%s", ref, err, out)
		}
		fs[i] = v
	}
	return fs
}

// close6 says whether mbpoll's %g rendering (6 significant digits) of a
// float32 matches want.
func close6(got, want float64) bool {
	return math.Abs(got-want) <= 5e-6*math.Max(math.Abs(want), 1e-30)
}

// expectedRegs is what the register map says a table holds from addr on.
func expectedRegs(t *testing.T, plc *plantsim.PLC, table string, addr, n int) []uint16 {
	t.Helper()
	img := expectedImage(t, plc)[table]
	out := make([]uint16, n)
	for i := range out {
		v, ok := img[addr+i]
		if !ok {
			t.Fatalf("%s %d is not mapped", table, addr+i)
		}
		out[i] = v
	}
	return out
}

func TestMbpollReadsRegisters(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	mb := newMbpoll(t, addr)
	plc.Advance(70 * time.Second)

	// Input registers by 1-based reference (mbpoll's default) ...
	want := expectedRegs(t, plc, "input register", 0, 4)
	got := mb.registers(mb.mustRun([]string{"-t", "3", "-r", "1", "-c", "4", "-1"}), 1, 4)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mbpoll -t 3 -r 1 -c 4: %v, want %v", got, want)
	}
	// ... and by wire address with -0.
	got = mb.registers(mb.mustRun([]string{"-0", "-t", "3", "-r", "0", "-c", "4", "-1"}), 0, 4)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mbpoll -0 -t 3 -r 0 -c 4: %v, want %v", got, want)
	}
	// Diagnostics at 200 (reference 201): 700 scans, 70 s, run, 100 ms.
	want = expectedRegs(t, plc, "input register", plantsim.DiagBase, 8)
	got = mb.registers(mb.mustRun([]string{"-t", "3", "-r", "201", "-c", "8", "-1"}), 201, 8)
	if fmt.Sprint(got) != fmt.Sprint(want) || got[plantsim.DiagScanCountLo] != 700 || got[plantsim.DiagUptimeLo] != 70 {
		t.Errorf("diagnostics via mbpoll: %v, want %v", got, want)
	}
	// Holding registers, including a value above 32767.
	kp := 1500.0
	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: "kp", Value: &kp}); err != nil {
		t.Fatal(err)
	}
	want = expectedRegs(t, plc, "holding register", 0, 8)
	if def, a, _ := tagDef(t, plc, "kp"); want[a] != def.Scale(1500) || want[a] <= 32767 {
		t.Fatalf("kp register %d", want[a])
	}
	got = mb.registers(mb.mustRun([]string{"-t", "4", "-r", "1", "-c", "8", "-1"}), 1, 8)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mbpoll -t 4 -r 1 -c 8: %v, want %v", got, want)
	}

	// An unmapped address is reported as exception 02.
	out, err := mb.run([]string{"-t", "4", "-r", "51", "-1"})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(out, "Illegal data address") {
		t.Errorf("mbpoll read of holding register 50: %v\n%s", err, out)
	}
}

func TestMbpollReadsBits(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	mb := newMbpoll(t, addr)
	for _, tc := range []struct {
		typ, table string
		n          int
	}{{"0", "coil", 5}, {"1", "discrete input", 9}} {
		want := expectedRegs(t, plc, tc.table, 0, tc.n)
		got := mb.registers(mb.mustRun([]string{"-t", tc.typ, "-r", "1", "-c", strconv.Itoa(tc.n), "-1"}), 1, tc.n)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("mbpoll -t %s: %v, want %v", tc.typ, got, want)
		}
		if fmt.Sprint(got) == fmt.Sprint(make([]uint16, tc.n)) {
			t.Errorf("mbpoll -t %s read all zeros; the test needs some bits set", tc.typ)
		}
	}
}

func TestMbpollWrites(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	mb := newMbpoll(t, addr)
	sp, _, _ := tagDef(t, plc, "level_sp")

	// One value: FC6 to level_sp at reference 1.
	mb.mustRun([]string{"-t", "4", "-r", "1"}, strconv.Itoa(int(sp.Scale(3))))
	// Two values: FC16 to alarm_ll, alarm_l at references 3, 4.
	mb.mustRun([]string{"-t", "4", "-r", "3"}, strconv.Itoa(int(sp.Scale(0.2))), strconv.Itoa(int(sp.Scale(0.5))))
	// A coil: auto off at reference 1.
	mb.mustRun([]string{"-t", "0", "-r", "1"}, "0")
	// A float32, high word first (-B), to kp's float pair.
	_, _, kpFloat := tagDef(t, plc, "kp")
	mb.mustRun([]string{"-t", "4:float", "-B", "-r", strconv.Itoa(int(kpFloat) + 1)}, "812.5")

	if v := tagValue(t, plc, "level_sp").Truth; v != 2.5 {
		t.Fatalf("level_sp = %v before a scan", v)
	}
	scan(plc)
	for tag, want := range map[string]float64{"level_sp": 3, "alarm_ll": 0.2, "alarm_l": 0.5, "auto": 0, "kp": 812.5} {
		if got := tagValue(t, plc, tag).Truth; math.Abs(got-want) > 1e-3 {
			t.Errorf("%s = %v after mbpoll's write and a scan, want %v", tag, got, want)
		}
	}
	// mbpoll reads back what the PLC now holds.
	want := expectedRegs(t, plc, "holding register", 0, 8)
	got := mb.registers(mb.mustRun([]string{"-t", "4", "-r", "1", "-c", "8", "-1"}), 1, 8)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mbpoll read back %v, want %v", got, want)
	}
}

// We send float32 high word first. mbpoll needs -B for that; its default is
// low word first, which reads our floats as garbage.
func TestMbpollFloat32WordOrder(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	mb := newMbpoll(t, addr)
	names := []string{"level", "inflow", "outflow", "inlet_valve"}
	_, _, first := tagDef(t, plc, names[0])

	got := mb.floats(mb.mustRun([]string{"-t", "3:float", "-B", "-r", strconv.Itoa(int(first) + 1), "-c", "4", "-1"}), int(first)+1, 4)
	for i, name := range names {
		if _, _, fa := tagDef(t, plc, name); fa != first+uint16(2*i) {
			t.Fatalf("%s float at %d", name, fa)
		}
		want := float64(float32(tagValue(t, plc, name).Reported))
		if !close6(got[i], want) {
			t.Errorf("mbpoll -B reads %s = %v, want %v", name, got[i], want)
		}
	}

	got = mb.floats(mb.mustRun([]string{"-t", "3:float", "-r", strconv.Itoa(int(first) + 1), "-c", "1", "-1"}), int(first)+1, 1)
	level := tagValue(t, plc, "level").Reported
	r := floatRegs(level)
	swapped := float64(regsFloat([]uint16{r[1], r[0]}))
	if close6(got[0], level) || !close6(got[0], swapped) {
		t.Errorf("mbpoll without -B reads level as %v; want the word-swapped %v, not %v", got[0], swapped, level)
	}
}
