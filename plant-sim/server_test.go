package plantsim_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	smodbus "github.com/simonvetter/modbus"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// mbClient is what the conformance tests need from a Modbus client; both our
// client and github.com/simonvetter/modbus (an independent implementation)
// provide it, so the server is checked against a peer it doesn't share code
// with.
type mbClient interface {
	ReadCoils(addr, qty uint16) ([]bool, error)
	ReadDiscreteInputs(addr, qty uint16) ([]bool, error)
	ReadHoldingRegisters(addr, qty uint16) ([]uint16, error)
	ReadInputRegisters(addr, qty uint16) ([]uint16, error)
	WriteCoil(addr uint16, v bool) error
	WriteCoils(addr uint16, v []bool) error
	WriteRegister(addr, v uint16) error
	WriteRegisters(addr uint16, v []uint16) error
	WriteFloat32(addr uint16, v float32) error
}

type oursAt1 struct{ c *modbus.Client }

func (o oursAt1) ReadCoils(a, q uint16) ([]bool, error) { return o.c.ReadCoils(1, a, q) }
func (o oursAt1) ReadDiscreteInputs(a, q uint16) ([]bool, error) {
	return o.c.ReadDiscreteInputs(1, a, q)
}
func (o oursAt1) ReadHoldingRegisters(a, q uint16) ([]uint16, error) {
	return o.c.ReadHoldingRegisters(1, a, q)
}
func (o oursAt1) ReadInputRegisters(a, q uint16) ([]uint16, error) {
	return o.c.ReadInputRegisters(1, a, q)
}
func (o oursAt1) WriteCoil(a uint16, v bool) error          { return o.c.WriteCoil(1, a, v) }
func (o oursAt1) WriteCoils(a uint16, v []bool) error       { return o.c.WriteCoils(1, a, v) }
func (o oursAt1) WriteRegister(a, v uint16) error           { return o.c.WriteRegister(1, a, v) }
func (o oursAt1) WriteRegisters(a uint16, v []uint16) error { return o.c.WriteRegisters(1, a, v) }
func (o oursAt1) WriteFloat32(a uint16, v float32) error    { return o.c.WriteFloat32(1, a, v) }

type peer struct{ c *smodbus.ModbusClient }

func (p peer) ReadCoils(a, q uint16) ([]bool, error)          { return p.c.ReadCoils(a, q) }
func (p peer) ReadDiscreteInputs(a, q uint16) ([]bool, error) { return p.c.ReadDiscreteInputs(a, q) }
func (p peer) ReadHoldingRegisters(a, q uint16) ([]uint16, error) {
	return p.c.ReadRegisters(a, q, smodbus.HOLDING_REGISTER)
}
func (p peer) ReadInputRegisters(a, q uint16) ([]uint16, error) {
	return p.c.ReadRegisters(a, q, smodbus.INPUT_REGISTER)
}
func (p peer) WriteCoil(a uint16, v bool) error          { return p.c.WriteCoil(a, v) }
func (p peer) WriteCoils(a uint16, v []bool) error       { return p.c.WriteCoils(a, v) }
func (p peer) WriteRegister(a, v uint16) error           { return p.c.WriteRegister(a, v) }
func (p peer) WriteRegisters(a uint16, v []uint16) error { return p.c.WriteRegisters(a, v) }
func (p peer) WriteFloat32(a uint16, v float32) error    { return p.c.WriteFloat32(a, v) }

var clientKinds = []struct {
	name string
	dial func(t testing.TB, addr string) mbClient
}{
	{"icsrange", func(t testing.TB, addr string) mbClient { return oursAt1{ourClient(t, addr)} }},
	{"simonvetter", func(t testing.TB, addr string) mbClient { return peer{peerClient(t, addr)} }},
}

// expectedImage is the register image the published register map and the
// PLC's management view say a client should read, by table and address.
func expectedImage(t *testing.T, plc *plantsim.PLC) map[string]map[int]uint16 {
	t.Helper()
	var vals plantsim.Values
	plc.Read(&vals)
	img := map[string]map[int]uint16{}
	for _, e := range plc.Model().Map() {
		if img[e.Table] == nil {
			img[e.Table] = map[int]uint16{}
		}
		if e.Class == "diagnostic" {
			up := uint32(vals.Uptime / time.Second)
			diag := []uint16{
				uint16(vals.ScanCount >> 16), uint16(vals.ScanCount),
				uint16(up >> 16), uint16(up),
				uint16(vals.Checksum >> 16), uint16(vals.Checksum),
				1, // run
				uint16(plc.ScanPeriod() / time.Millisecond),
			}
			img[e.Table][e.Address] = diag[e.Address-plantsim.DiagBase]
			continue
		}
		tv := tagValue(t, plc, e.Tag)
		def, _, _ := tagDef(t, plc, e.Tag)
		v := tv.Truth
		if e.Table == "discrete input" || e.Table == "input register" {
			v = tv.Reported
		}
		switch e.Table {
		case "coil", "discrete input":
			img[e.Table][e.Address] = 0
			if v >= 0.5 {
				img[e.Table][e.Address] = 1
			}
		default:
			img[e.Table][e.Address] = def.Scale(v)
			f := floatRegs(v)
			img[e.Table][e.Float], img[e.Table][e.Float+1] = f[0], f[1]
		}
	}
	return img
}

// runs splits sorted addresses into contiguous [start, end) blocks.
func runs(m map[int]uint16) [][2]int {
	var addrs []int
	for a := range m {
		addrs = append(addrs, a)
	}
	sort.Ints(addrs)
	var out [][2]int
	for _, a := range addrs {
		if n := len(out); n > 0 && out[n-1][1] == a {
			out[n-1][1]++
		} else {
			out = append(out, [2]int{a, a + 1})
		}
	}
	return out
}

// Every function code reads what the register map says, both per address
// and block by block, through both clients.
func TestModbusReadsMatchRegisterMap(t *testing.T) {
	for _, k := range clientKinds {
		t.Run(k.name, func(t *testing.T) {
			plc, addr := startPLC(t, plantsim.ServerConfig{})
			plc.Advance(70 * time.Second) // non-zero scan count and uptime
			c := k.dial(t, addr)
			img := expectedImage(t, plc)

			blocks := map[string][][2]int{}
			for table, m := range img {
				blocks[table] = runs(m)
			}
			// The water tank's map: 5 coils, 9 discrete inputs, 4 input
			// registers with their floats and 8 diagnostics, 8 holding
			// registers with their floats.
			want := fmt.Sprint(map[string][][2]int{
				"coil":             {{0, 5}},
				"discrete input":   {{0, 9}},
				"input register":   {{0, 4}, {100, 108}, {200, 208}},
				"holding register": {{0, 8}, {100, 116}},
			})
			if got := fmt.Sprint(blocks); got != want {
				t.Fatalf("register map blocks %s, want %s", got, want)
			}

			for table, bs := range blocks {
				for _, b := range bs {
					a, n := uint16(b[0]), uint16(b[1]-b[0])
					var got []uint16
					switch table {
					case "coil", "discrete input":
						read := c.ReadCoils
						if table == "discrete input" {
							read = c.ReadDiscreteInputs
						}
						bits, err := read(a, n)
						if err != nil {
							t.Fatalf("%s %d+%d: %v", table, a, n, err)
						}
						for _, bit := range bits {
							got = append(got, map[bool]uint16{false: 0, true: 1}[bit])
						}
					default:
						read := c.ReadHoldingRegisters
						if table == "input register" {
							read = c.ReadInputRegisters
						}
						var err error
						if got, err = read(a, n); err != nil {
							t.Fatalf("%s %d+%d: %v", table, a, n, err)
						}
					}
					if len(got) != int(n) {
						t.Fatalf("%s %d+%d: %d values", table, a, n, len(got))
					}
					for i, v := range got {
						if w := img[table][int(a)+i]; v != w {
							t.Errorf("%s %d = %d, want %d", table, int(a)+i, v, w)
						}
					}
				}
			}

			// Spot checks against plain engineering values, so a wrong
			// expectation above can't hide a wrong server.
			regs, err := c.ReadHoldingRegisters(0, 1)
			if err != nil || math.Abs(float64(regs[0])-2.5/10*65535) > 0.5 {
				t.Errorf("level_sp scaled = %v %v, want 2.5 m of 0..10 m", regs, err)
			}
			def, _, fa := tagDef(t, plc, "level_sp")
			if fa != plantsim.FloatBase || def.Max != 10 {
				t.Fatalf("level_sp float address %d", fa)
			}
			regs, err = c.ReadHoldingRegisters(fa, 2)
			if err != nil || regsFloat(regs) != 2.5 {
				t.Errorf("level_sp float32 = %v (%v)", regs, err)
			}
			d, err := c.ReadInputRegisters(plantsim.DiagBase, 8)
			if err != nil || d[plantsim.DiagScanCountLo] != 700 || d[plantsim.DiagUptimeLo] != 70 || d[plantsim.DiagMode] != 1 || d[plantsim.DiagScanMs] != 100 {
				t.Errorf("diagnostics = %v (%v), want 700 scans, 70 s, run, 100 ms", d, err)
			}
		})
	}
}

// A client write changes the register image at once and PLC memory at the
// next scan, for every write function, through both clients.
func TestModbusWritesLatchAtScan(t *testing.T) {
	for _, k := range clientKinds {
		t.Run(k.name, func(t *testing.T) {
			plc, addr := startPLC(t, plantsim.ServerConfig{})
			c := k.dial(t, addr)

			// FC5: coil auto (1 at start) to 0.
			_, auto, _ := tagDef(t, plc, "auto")
			if err := c.WriteCoil(auto, false); err != nil {
				t.Fatal(err)
			}
			if bits, err := c.ReadCoils(auto, 1); err != nil || bits[0] {
				t.Fatalf("coil auto reads %v %v after writing 0", bits, err)
			}
			if v := tagValue(t, plc, "auto").Truth; v != 1 {
				t.Fatalf("auto = %v in PLC memory before a scan", v)
			}
			scan(plc)
			if v := tagValue(t, plc, "auto").Truth; v != 0 {
				t.Fatalf("auto = %v after a scan, want 0", v)
			}

			// FC15: pump1_run, pump2_run (1, 0 at start) to 0, 1.
			_, p1, _ := tagDef(t, plc, "pump1_run")
			if _, p2, _ := tagDef(t, plc, "pump2_run"); p2 != p1+1 {
				t.Fatalf("pump coils at %d and %d", p1, p2)
			}
			if err := c.WriteCoils(p1, []bool{false, true}); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if a, b := tagValue(t, plc, "pump1_run").Truth, tagValue(t, plc, "pump2_run").Truth; a != 0 || b != 1 {
				t.Fatalf("pumps = %v, %v after FC15, want 0, 1", a, b)
			}

			// FC6: level_sp scaled to 3 m.
			sp, spAddr, spFloat := tagDef(t, plc, "level_sp")
			if err := c.WriteRegister(spAddr, sp.Scale(3)); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if v := tagValue(t, plc, "level_sp").Truth; math.Abs(v-3) > 10.0/65535 {
				t.Fatalf("level_sp = %v after FC6, want 3", v)
			}
			if regs, err := c.ReadHoldingRegisters(spFloat, 2); err != nil || math.Abs(float64(regsFloat(regs))-3) > 10.0/65535 {
				t.Fatalf("level_sp float32 = %v %v after FC6, want 3", regs, err)
			}

			// FC16: two limits at once.
			al, alAddr, _ := tagDef(t, plc, "alarm_l")
			if _, ahAddr, _ := tagDef(t, plc, "alarm_h"); ahAddr != alAddr+1 {
				t.Fatalf("alarm_l, alarm_h at %d, %d", alAddr, ahAddr)
			}
			if err := c.WriteRegisters(alAddr, []uint16{al.Scale(1), al.Scale(3.5)}); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if a, b := tagValue(t, plc, "alarm_l").Truth, tagValue(t, plc, "alarm_h").Truth; math.Abs(a-1) > 1e-3 || math.Abs(b-3.5) > 1e-3 {
				t.Fatalf("alarm_l, alarm_h = %v, %v after FC16, want 1, 3.5", a, b)
			}

			// FC16 on the float32 pair, high word first: exact.
			if err := c.WriteFloat32(spFloat, 3.25); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if v := tagValue(t, plc, "level_sp").Truth; v != 3.25 {
				t.Fatalf("level_sp = %v after a float32 write of 3.25", v)
			}
			if regs, err := c.ReadHoldingRegisters(spAddr, 1); err != nil || regs[0] != sp.Scale(3.25) {
				t.Fatalf("level_sp scaled = %v %v after a float32 write, want %d", regs, err, sp.Scale(3.25))
			}

			// Out of range: clamped to the tag's range (0..10 m).
			if err := c.WriteFloat32(spFloat, 50); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if v := tagValue(t, plc, "level_sp").Truth; v != 10 {
				t.Fatalf("level_sp = %v after writing 50, want it clamped to 10", v)
			}

			// NaN is ignored, and the scan republishes the real value.
			if err := c.WriteFloat32(spFloat, float32(math.NaN())); err != nil {
				t.Fatal(err)
			}
			scan(plc)
			if v := tagValue(t, plc, "level_sp").Truth; v != 10 {
				t.Fatalf("level_sp = %v after writing NaN, want 10 kept", v)
			}
			if regs, err := c.ReadHoldingRegisters(spFloat, 2); err != nil || regsFloat(regs) != 10 {
				t.Fatalf("level_sp float32 = %v %v after a NaN write and a scan, want 10", regs, err)
			}
		})
	}
}

// The peer library decodes our float32 pairs with its default (big-endian,
// high word first) encoding.
func TestModbusFloat32WordOrderMatchesPeer(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	c := peerClient(t, addr)
	for _, name := range []string{"level", "inflow", "inlet_valve"} {
		_, _, fa := tagDef(t, plc, name)
		got, err := c.ReadFloat32(fa, smodbus.INPUT_REGISTER)
		if err != nil {
			t.Fatal(err)
		}
		if want := float32(tagValue(t, plc, name).Reported); got != want || want == 0 {
			t.Errorf("%s: peer reads %v, want %v", name, got, want)
		}
	}
	_, _, fa := tagDef(t, plc, "alarm_hh")
	got, err := c.ReadFloat32(fa, smodbus.HOLDING_REGISTER)
	if want := float32(tagValue(t, plc, "alarm_hh").Truth); err != nil || got != want {
		t.Errorf("alarm_hh: peer reads %v (%v), want %v", got, err, want)
	}
}

// FC23 writes before it reads, in one request.
func TestModbusReadWriteMultiple(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	c := ourClient(t, addr)
	sp, spAddr, _ := tagDef(t, plc, "level_sp")
	mv, mvAddr, _ := tagDef(t, plc, "inlet_manual")
	if mvAddr != spAddr+1 {
		t.Fatalf("inlet_manual at %d", mvAddr)
	}
	w := []uint16{sp.Scale(3), mv.Scale(40)}
	// Read 8 from 0, write 2 to level_sp.
	req := []byte{0x17, 0, 0, 0, 8, byte(spAddr >> 8), byte(spAddr), 0, 2, 4}
	req = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(req, w[0]), w[1])
	resp, err := c.Do(1, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 2+16 || resp[0] != 0x17 || resp[1] != 16 {
		t.Fatalf("FC23 response % x", resp)
	}
	if got := []uint16{binary.BigEndian.Uint16(resp[2+2*spAddr:]), binary.BigEndian.Uint16(resp[2+2*mvAddr:])}; got[0] != w[0] || got[1] != w[1] {
		t.Fatalf("FC23 read back %v, want the values it wrote %v", got, w)
	}
	_, hhAddr, _ := tagDef(t, plc, "alarm_hh")
	hh := tagValue(t, plc, "alarm_hh").Truth
	if got := binary.BigEndian.Uint16(resp[2+2*hhAddr:]); got != sp.Scale(hh) {
		t.Fatalf("FC23 read alarm_hh %d, want %d", got, sp.Scale(hh))
	}
	scan(plc)
	if a, b := tagValue(t, plc, "level_sp").Truth, tagValue(t, plc, "inlet_manual").Truth; math.Abs(a-3) > 1e-3 || math.Abs(b-40) > 1e-2 {
		t.Fatalf("after FC23 and a scan: level_sp %v, inlet_manual %v; want 3, 40", a, b)
	}
}

func TestModbusDeviceID(t *testing.T) {
	plc, addr := startPLCWith(t, plantsim.Config{ID: "intake", Model: "water-tank"}, plantsim.ServerConfig{})
	c := ourClient(t, addr)
	id, err := c.ReadDeviceID(1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[byte]string{
		modbus.ObjVendorName:          "icsrange",
		modbus.ObjProductCode:         "ICSR-water-tank",
		modbus.ObjMajorMinorRevision:  "1.0",
		modbus.ObjModelName:           plc.Model().Title,
		modbus.ObjUserApplicationName: "intake",
	}
	for obj, v := range want {
		if id[obj] != v {
			t.Errorf("object %d = %q, want %q", obj, id[obj], v)
		}
	}
	if id[modbus.ObjVendorURL] == "" || id[modbus.ObjProductName] == "" || len(id) != 7 {
		t.Errorf("regular objects: %q", id)
	}
	if plc.ID() != "intake" {
		t.Fatalf("plc id %q", plc.ID())
	}

	// Basic stream (code 1): exactly the three mandatory objects.
	resp, err := c.Do(1, []byte{0x2B, 0x0E, 0x01, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	if resp[2] != 1 || resp[4] != 0 || resp[6] != 3 || !bytes.HasPrefix(resp[7:], append([]byte{0, 8}, "icsrange"...)) {
		t.Fatalf("basic device id % x", resp)
	}
	// Individual access (code 4) to the user application name.
	resp, err = c.Do(1, []byte{0x2B, 0x0E, 0x04, 0x06})
	if err != nil {
		t.Fatal(err)
	}
	if wantResp := append([]byte{0x2B, 0x0E, 0x04, 0x82, 0x00, 0x00, 0x01, 0x06, 6}, "intake"...); !bytes.Equal(resp, wantResp) {
		t.Fatalf("object 6 = % x, want % x", resp, wantResp)
	}
	// An unknown object is exception 02.
	if _, err := c.Do(1, []byte{0x2B, 0x0E, 0x04, 0x80}); !errors.Is(err, modbus.ExIllegalAddress) {
		t.Fatalf("object 0x80: %v, want exception 02", err)
	}
}

// Exceptions come back byte for byte as the specification says, and the
// connection stays open after every one of them; no failed write changes
// anything.
func TestModbusExceptionsKeepConnection(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	before := plc.Tags()
	conn := dialRaw(t, addr)

	fc23 := func(raddr, rqty, waddr, wqty uint16) []byte {
		p := []byte{0x17, byte(raddr >> 8), byte(raddr), byte(rqty >> 8), byte(rqty), byte(waddr >> 8), byte(waddr), byte(wqty >> 8), byte(wqty), byte(2 * wqty)}
		return append(p, make([]byte, 2*int(wqty))...)
	}
	cases := []struct {
		name string
		req  []byte
		resp []byte
	}{
		// 01 illegal function
		{"FC8 diagnostics", []byte{0x08, 0x00, 0x00, 0x12, 0x34}, []byte{0x88, 0x01}},
		{"FC22 mask write", []byte{0x16, 0x00, 0x00, 0x00, 0xF2, 0x00, 0x25}, []byte{0x96, 0x01}},
		{"FC43 MEI 0x0D", []byte{0x2B, 0x0D, 0x01, 0x00}, []byte{0xAB, 0x01}},
		{"FC0", []byte{0x00}, []byte{0x80, 0x01}},
		// 02 illegal data address
		{"IR from nIR-1 qty 2", []byte{0x04, 0x00, 0x03, 0x00, 0x02}, []byte{0x84, 0x02}},
		{"IR 0 qty 5", []byte{0x04, 0x00, 0x00, 0x00, 0x05}, []byte{0x84, 0x02}},
		{"IR in the gap", []byte{0x04, 0x00, 0x32, 0x00, 0x01}, []byte{0x84, 0x02}},
		{"IR float block end", []byte{0x04, 0x00, 0x6B, 0x00, 0x02}, []byte{0x84, 0x02}},
		{"IR gap into diagnostics", []byte{0x04, 0x00, 0xC7, 0x00, 0x02}, []byte{0x84, 0x02}},
		{"IR past diagnostics", []byte{0x04, 0x00, 0xD0, 0x00, 0x01}, []byte{0x84, 0x02}},
		{"IR address wraps", []byte{0x04, 0xFF, 0xFF, 0x00, 0x02}, []byte{0x84, 0x02}},
		{"HR 50", []byte{0x03, 0x00, 0x32, 0x00, 0x01}, []byte{0x83, 0x02}},
		{"HR scaled into the gap", []byte{0x03, 0x00, 0x07, 0x00, 0x02}, []byte{0x83, 0x02}},
		{"HR float block end", []byte{0x03, 0x00, 0x73, 0x00, 0x02}, []byte{0x83, 0x02}},
		{"coil 5", []byte{0x01, 0x00, 0x05, 0x00, 0x01}, []byte{0x81, 0x02}},
		{"DI 0 qty 10", []byte{0x02, 0x00, 0x00, 0x00, 0x0A}, []byte{0x82, 0x02}},
		{"FC5 coil 5", []byte{0x05, 0x00, 0x05, 0xFF, 0x00}, []byte{0x85, 0x02}},
		{"FC6 HR 8", []byte{0x06, 0x00, 0x08, 0x00, 0x01}, []byte{0x86, 0x02}},
		{"FC15 coils 4..5", []byte{0x0F, 0x00, 0x04, 0x00, 0x02, 0x01, 0x03}, []byte{0x8F, 0x02}},
		{"FC16 HR 7..8", []byte{0x10, 0x00, 0x07, 0x00, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78}, []byte{0x90, 0x02}},
		{"FC16 HR float 115..116", []byte{0x10, 0x00, 0x73, 0x00, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78}, []byte{0x90, 0x02}},
		{"FC23 write outside", fc23(0, 1, 8, 1), []byte{0x97, 0x02}},
		{"FC23 read outside", fc23(8, 1, 0, 1), []byte{0x97, 0x02}},
		{"FC43 unknown object", []byte{0x2B, 0x0E, 0x04, 0x80}, []byte{0xAB, 0x02}},
		// 03 illegal data value
		{"FC3 qty 0", []byte{0x03, 0x00, 0x00, 0x00, 0x00}, []byte{0x83, 0x03}},
		{"FC3 qty 126", []byte{0x03, 0x00, 0x00, 0x00, 0x7E}, []byte{0x83, 0x03}},
		{"FC4 qty 126 at an unmapped address", []byte{0x04, 0x01, 0xF4, 0x00, 0x7E}, []byte{0x84, 0x03}},
		{"FC1 qty 2001", []byte{0x01, 0x00, 0x00, 0x07, 0xD1}, []byte{0x81, 0x03}},
		{"FC2 qty 0", []byte{0x02, 0x00, 0x00, 0x00, 0x00}, []byte{0x82, 0x03}},
		{"FC5 value 0x1234", []byte{0x05, 0x00, 0x00, 0x12, 0x34}, []byte{0x85, 0x03}},
		{"FC16 byte count mismatch", []byte{0x10, 0x00, 0x00, 0x00, 0x02, 0x03, 0x00, 0x01, 0x00}, []byte{0x90, 0x03}},
		{"FC16 qty 124 (no room for its data)", append([]byte{0x10, 0x00, 0x00, 0x00, 124, 248}, make([]byte, 240)...), []byte{0x90, 0x03}},
		{"FC15 byte count mismatch", []byte{0x0F, 0x00, 0x00, 0x00, 0x02, 0x02, 0x03, 0x00}, []byte{0x8F, 0x03}},
		{"FC23 write qty 122 (no room for its data)", fc23(0, 1, 0, 122)[:10+234], []byte{0x97, 0x03}},
		{"FC3 short body", []byte{0x03, 0x00, 0x00, 0x00}, []byte{0x83, 0x03}},
		{"FC43 read code 5", []byte{0x2B, 0x0E, 0x05, 0x00}, []byte{0xAB, 0x03}},
	}
	sp, _, _ := tagDef(t, plc, "level_sp")
	spReg := sp.Scale(tagValue(t, plc, "level_sp").Truth)
	tx := uint16(0x7000)
	for _, tc := range cases {
		tx++
		got := roundTrip(t, conn, adu(tx, 1, tc.req...))
		if want := adu(tx, 1, tc.resp...); !bytes.Equal(got, want) {
			t.Errorf("%s: response % x, want % x", tc.name, got, want)
		}
		// The same connection still answers a valid request.
		tx++
		got = roundTrip(t, conn, adu(tx, 1, 0x03, 0x00, 0x00, 0x00, 0x01))
		if want := adu(tx, 1, 0x03, 0x02, byte(spReg>>8), byte(spReg)); !bytes.Equal(got, want) {
			t.Fatalf("after %s: response % x, want % x", tc.name, got, want)
		}
	}
	scan(plc)
	after := plc.Tags()
	for i, b := range before {
		if (b.Table == "co" || b.Table == "hr") && after[i].Truth != b.Truth {
			t.Errorf("%s changed from %v to %v by requests that all failed", b.Name, b.Truth, after[i].Truth)
		}
	}
}

func TestModbusUnitIDs(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	if plc.UnitID() != 1 {
		t.Fatalf("default unit id %d", plc.UnitID())
	}
	conn := dialRaw(t, addr)
	read := []byte{0x04, 0x00, 0x00, 0x00, 0x01}
	var answer []byte
	for i, unit := range []byte{1, 0, 255, 7, 2, 254, 1} {
		tx := uint16(100 + i)
		got := roundTrip(t, conn, adu(tx, unit, read...))
		switch unit {
		case 1, 0, 255:
			// Answered, echoing the unit id; the same data for every alias.
			if !bytes.Equal(got[:7], adu(tx, unit, 0x04, 0x02, 0, 0)[:7]) || got[7] != 0x04 || got[8] != 2 {
				t.Fatalf("unit %d: response % x", unit, got)
			}
			if answer == nil {
				answer = got[7:]
			} else if !bytes.Equal(got[7:], answer) {
				t.Fatalf("unit %d answered % x, unit 1 % x", unit, got[7:], answer)
			}
		default:
			if want := adu(tx, unit, 0x84, 0x0B); !bytes.Equal(got, want) {
				t.Fatalf("unit %d: response % x, want % x", unit, got, want)
			}
		}
	}

	// The peer library agrees.
	c := peerClient(t, addr)
	for _, unit := range []uint8{0, 255} {
		c.SetUnitId(unit)
		if _, err := c.ReadRegisters(0, 1, smodbus.INPUT_REGISTER); err != nil {
			t.Errorf("peer, unit %d: %v", unit, err)
		}
	}
	c.SetUnitId(7)
	if _, err := c.ReadRegisters(0, 1, smodbus.INPUT_REGISTER); !errors.Is(err, smodbus.ErrGWTargetFailedToRespond) {
		t.Errorf("peer, unit 7: %v, want gateway target failed to respond", err)
	}

	// A PLC configured for unit 7 answers 7 and turns 1 away.
	_, addr7 := startPLCWith(t, plantsim.Config{Model: "water-tank", UnitID: 7}, plantsim.ServerConfig{})
	conn7 := dialRaw(t, addr7)
	if got := roundTrip(t, conn7, adu(1, 7, read...)); got[7] != 0x04 {
		t.Fatalf("unit 7 on a unit-7 PLC: % x", got)
	}
	if got, want := roundTrip(t, conn7, adu(2, 1, read...)), adu(2, 1, 0x84, 0x0B); !bytes.Equal(got, want) {
		t.Fatalf("unit 1 on a unit-7 PLC: % x, want % x", got, want)
	}
}

// Framing errors can't be resynchronised: the server closes the connection
// (and only that one).
func TestModbusFramingErrorsClose(t *testing.T) {
	_, addr := startPLC(t, plantsim.ServerConfig{})
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"protocol id 1", []byte{0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01}},
		{"protocol id 0xFFFF", []byte{0x00, 0x01, 0xFF, 0xFF, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01}},
		{"length 255", []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0xFF, 0x01}},
		{"length 0xFFFF", []byte{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x01}},
		{"length 1", []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01}},
		{"length 0", []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := dialRaw(t, addr)
			roundTrip(t, keep, adu(1, 1, 0x04, 0x00, 0x00, 0x00, 0x01))

			conn := dialRaw(t, addr)
			// Prove the connection was served before the bad frame.
			roundTrip(t, conn, adu(1, 1, 0x04, 0x00, 0x00, 0x00, 0x01))
			if _, err := conn.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, conn)

			// Other connections are unaffected.
			if got := roundTrip(t, keep, adu(2, 1, 0x04, 0x00, 0x00, 0x00, 0x01)); got[7] != 0x04 {
				t.Fatalf("other connection got % x", got)
			}
		})
	}
}

// Requests written back to back are answered in order, each with its own
// transaction id; a frame split across writes is reassembled.
func TestModbusPipelining(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	conn := dialRaw(t, addr)
	sp, _, _ := tagDef(t, plc, "level_sp")
	spReg := sp.Scale(2.5)
	var batch []byte
	batch = append(batch, adu(0x0A01, 1, 0x03, 0x00, 0x00, 0x00, 0x01)...)
	batch = append(batch, adu(0x0A02, 1, 0x08, 0x00, 0x00, 0x00, 0x00)...) // exception in between
	batch = append(batch, adu(0x0A03, 1, 0x06, 0x00, 0x00, 0x12, 0x34)...)
	batch = append(batch, adu(0x0A04, 1, 0x03, 0x00, 0x00, 0x00, 0x01)...)
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		adu(0x0A01, 1, 0x03, 0x02, byte(spReg>>8), byte(spReg)),
		adu(0x0A02, 1, 0x88, 0x01),
		adu(0x0A03, 1, 0x06, 0x00, 0x00, 0x12, 0x34),
		adu(0x0A04, 1, 0x03, 0x02, 0x12, 0x34),
	}
	for i, w := range want {
		if got := readADU(t, conn); !bytes.Equal(got, w) {
			t.Fatalf("response %d: % x, want % x", i+1, got, w)
		}
	}

	// One frame in three writes.
	f := adu(0x0B01, 1, 0x04, 0x00, 0xC8, 0x00, 0x08)
	for _, part := range [][]byte{f[:3], f[3:8], f[8:]} {
		if _, err := conn.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if got := readADU(t, conn); len(got) != 7+2+16 || got[0] != 0x0B || got[1] != 0x01 || got[7] != 0x04 {
		t.Fatalf("split frame: response % x", got)
	}
}

// Many clients at once, reading and writing while the PLC scans. Run with
// -race. FC23 writes and reads in one locked step, so each client must read
// back exactly what it wrote even though others write the same registers.
func TestModbusConcurrentClients(t *testing.T) {
	const clients, ops = 16, 200
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	nHR := uint16(len(plc.Layout().Tables[plantsim.HoldingRegister]))

	// Clients kick the scanner as they go, so scans interleave with their
	// requests without a busy loop starving them.
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	scanned := make(chan int)
	go func() {
		n := 0
		for range kick {
			scan(plc)
			n++
		}
		scanned <- n
	}()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				if g%2 == 1 {
					// The peer library: reads and single writes.
					c, err := smodbus.NewClient(&smodbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: ioTimeout})
					if err != nil {
						return err
					}
					if err := c.Open(); err != nil {
						return err
					}
					defer c.Close()
					for i := range ops {
						d, err := c.ReadRegisters(plantsim.DiagBase+plantsim.DiagMode, 2, smodbus.INPUT_REGISTER)
						if err != nil {
							return fmt.Errorf("peer %d op %d: %w", g, i, err)
						}
						if d[0] != 1 || d[1] != 100 {
							return fmt.Errorf("peer %d op %d: mode/scan_ms %v", g, i, d)
						}
						if _, err := c.ReadDiscreteInputs(0, 9); err != nil {
							return fmt.Errorf("peer %d op %d: %w", g, i, err)
						}
						if err := c.WriteRegister(uint16(i)%nHR, uint16(g*1000+i)); err != nil {
							return fmt.Errorf("peer %d op %d: %w", g, i, err)
						}
						poke()
					}
					return nil
				}
				conn, err := net.DialTimeout("tcp", addr, ioTimeout)
				if err != nil {
					return err
				}
				c := modbus.NewClient(conn)
				c.Timeout = ioTimeout
				defer c.Close()
				for i := range ops {
					reg := uint16(g+i) % nHR
					val := uint16(g<<12 | i)
					req := []byte{0x17, 0, byte(reg), 0, 1, 0, byte(reg), 0, 1, 2, byte(val >> 8), byte(val)}
					resp, err := c.Do(1, req)
					if err != nil {
						return fmt.Errorf("client %d op %d: %w", g, i, err)
					}
					if got := binary.BigEndian.Uint16(resp[2:]); len(resp) != 4 || got != val {
						return fmt.Errorf("client %d op %d: FC23 read back %d, wrote %d", g, i, got, val)
					}
					if _, err := c.ReadInputRegisters(1, 0, 4); err != nil {
						return fmt.Errorf("client %d op %d: %w", g, i, err)
					}
					poke()
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(kick)
	n := <-scanned
	if n == 0 {
		t.Error("no scan ran while the clients worked")
	}
	t.Logf("%d scans ran alongside the clients", n)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var v plantsim.Values
	plc.Read(&v)
	if v.ScanCount != uint64(n) {
		t.Errorf("scan count %d, the test ran %d scans", v.ScanCount, n)
	}
	// The server is still healthy.
	if _, err := ourClient(t, addr).ReadInputRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
}

// MaxClients connections are served; the next is closed at once, and a slot
// freed by a client that leaves is available again. (Without eviction: on a
// loaded machine the clients could sit idle long enough to give theirs up;
// slots_test.go tests that.)
func TestModbusClientLimit(t *testing.T) {
	_, addr := startPLC(t, plantsim.ServerConfig{MaxClients: 4, EvictAfter: -1})
	var cs []*modbus.Client
	for i := range 4 {
		c := ourClient(t, addr)
		if _, err := c.ReadInputRegisters(1, 0, 1); err != nil {
			t.Fatalf("client %d of 4: %v", i+1, err)
		}
		cs = append(cs, c)
	}
	expectClosed(t, dialRaw(t, addr))
	for i, c := range cs {
		if _, err := c.ReadInputRegisters(1, 0, 1); err != nil {
			t.Fatalf("client %d after the 5th was refused: %v", i+1, err)
		}
	}

	cs[0].Close()
	// The server frees the slot when its read sees the close, which races
	// with our next dial: connections are refused until then.
	deadline := time.Now().Add(ioTimeout)
	var fresh *modbus.Client
	for attempts := 1; fresh == nil; attempts++ {
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted in %v (%d attempts) after a client left", ioTimeout, attempts)
		}
		c := ourClient(t, addr)
		c.Timeout = time.Second
		if _, err := c.ReadInputRegisters(1, 0, 1); err == nil {
			fresh = c
		} else {
			c.Close()
		}
	}
	for i, c := range append(cs[1:], fresh) {
		if _, err := c.ReadInputRegisters(1, 0, 1); err != nil {
			t.Fatalf("client %d: %v", i+1, err)
		}
	}
	// Still four: the next one is refused again.
	expectClosed(t, dialRaw(t, addr))
}

func TestModbusIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	_, addr := startPLC(t, plantsim.ServerConfig{IdleTimeout: idle})

	// A client that goes quiet after a request is disconnected.
	start := time.Now()
	conn := dialRaw(t, addr)
	roundTrip(t, conn, adu(1, 1, 0x04, 0x00, 0x00, 0x00, 0x01))
	expectClosed(t, conn)
	if el := time.Since(start); el < idle {
		t.Fatalf("closed after %v, before the idle timeout of %v", el, idle)
	}

	// So is one that never sends anything.
	start = time.Now()
	expectClosed(t, dialRaw(t, addr))
	if el := time.Since(start); el < idle {
		t.Fatalf("silent client closed after %v, before the idle timeout of %v", el, idle)
	}
}

// A client that keeps polling is never disconnected, however long it stays.
func TestModbusIdleTimeoutSparesActiveClient(t *testing.T) {
	const idle = 300 * time.Millisecond
	_, addr := startPLC(t, plantsim.ServerConfig{IdleTimeout: idle})
	conn := dialRaw(t, addr)
	tick := time.NewTicker(idle / 10)
	defer tick.Stop()
	start := time.Now()
	for i := 0; time.Since(start) < 3*idle; i++ {
		<-tick.C
		roundTrip(t, conn, adu(uint16(i), 1, 0x04, 0x00, 0x00, 0x00, 0x01))
	}
	expectClosed(t, conn) // and once it stops, it is
}

func TestModbusCommLoss(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	ours := ourClient(t, addr)
	theirs := peerClientTimeout(t, addr, 300*time.Millisecond)
	conn := dialRaw(t, addr)
	if _, err := ours.ReadInputRegisters(1, 0, 1); err != nil {
		t.Fatal(err)
	}

	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectFault, Fault: plantsim.FaultCommLoss}); err != nil {
		t.Fatal(err)
	}
	ours.Timeout = 300 * time.Millisecond
	var ne net.Error
	if _, err := ours.ReadInputRegisters(1, 0, 1); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read during comm loss: %v, want a timeout", err)
	}
	if err := ours.WriteRegister(1, 0, 1); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("write during comm loss: %v, want a timeout", err)
	}
	theirs.SetUnitId(1)
	if _, err := theirs.ReadCoils(0, 1); !errors.Is(err, smodbus.ErrRequestTimedOut) {
		t.Fatalf("peer read during comm loss: %v, want a timeout", err)
	}
	// Nothing at all comes back, whatever the request or unit id.
	for i, frame := range [][]byte{
		adu(1, 1, 0x08, 0x00, 0x00, 0x00, 0x00),
		adu(2, 1, 0x03, 0x00, 0x00, 0x00, 0x00),
		adu(3, 7, 0x03, 0x00, 0x00, 0x00, 0x01),
	} {
		if _, err := conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 16)
		if n, err := conn.Read(buf); n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("frame %d during comm loss: got % x (%v), want no answer", i+1, buf[:n], err)
		}
	}
	// The management view still works and says so.
	var v plantsim.Values
	plc.Read(&v)
	if !v.CommLoss {
		t.Fatal("Values.CommLoss is false during comm loss")
	}
	// The ignored write did not happen.
	scan(plc)
	if sp := tagValue(t, plc, "level_sp").Truth; sp != 2.5 {
		t.Fatalf("level_sp = %v: a write during comm loss reached the PLC", sp)
	}

	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectClearFault, Fault: plantsim.FaultCommLoss}); err != nil {
		t.Fatal(err)
	}
	// The same connections answer again.
	if _, err := ours.ReadInputRegisters(1, 0, 1); err != nil {
		t.Fatalf("our client after comm loss cleared: %v", err)
	}
	if _, err := theirs.ReadCoils(0, 1); err != nil {
		t.Fatalf("peer after comm loss cleared: %v", err)
	}
	if got := roundTrip(t, conn, adu(9, 1, 0x04, 0x00, 0x00, 0x00, 0x01)); got[0] != 0 || got[1] != 9 || got[7] != 0x04 {
		t.Fatalf("raw connection after comm loss cleared: % x", got)
	}
}

// Spoof, freeze, replay and release change what clients read, never the
// PLC's truth.
func TestModbusReportedViewOverrides(t *testing.T) {
	plc, addr := startPLC(t, plantsim.ServerConfig{})
	c := ourClient(t, addr)
	def, lvl, lvlF := tagDef(t, plc, "level")
	readLevel := func() (uint16, float32) {
		t.Helper()
		r, err := c.ReadInputRegisters(1, lvl, 1)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.ReadInputRegisters(1, lvlF, 2)
		if err != nil {
			t.Fatal(err)
		}
		return r[0], regsFloat(f)
	}
	apply := func(e plantsim.Effect) {
		t.Helper()
		if err := plc.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	val := func(v float64) *float64 { return &v }
	advance := func(d time.Duration) { plc.Advance(plc.Now() + d) }

	// Fill the tank: manual inlet fully open, pumps off.
	apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: "auto", Value: val(0)})
	apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: "inlet_manual", Value: val(100)})
	apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: "pump1_run", Value: val(0)})
	advance(2 * time.Second)
	truth0 := tagValue(t, plc, "level").Truth
	if r, f := readLevel(); r != def.Scale(truth0) || f != float32(truth0) {
		t.Fatalf("level reads %d / %v, truth %v", r, f, truth0)
	}

	t.Run("spoof", func(t *testing.T) {
		apply(plantsim.Effect{Kind: plantsim.EffectSpoof, Tag: "level", Value: val(7.5)})
		scan(plc)
		if r, f := readLevel(); r != def.Scale(7.5) || f != 7.5 {
			t.Fatalf("spoofed level reads %d / %v, want %d / 7.5", r, f, def.Scale(7.5))
		}
		tv := tagValue(t, plc, "level")
		if tv.Reported != 7.5 || tv.Override != "spoof" || math.Abs(tv.Truth-truth0) > 0.1 {
			t.Fatalf("management view %+v", tv)
		}
		// Alarms spoof too: level_hh shows 1 while truth is 0.
		apply(plantsim.Effect{Kind: plantsim.EffectSpoof, Tag: "level_hh", Value: val(1)})
		scan(plc)
		_, hh, _ := tagDef(t, plc, "level_hh")
		if bits, err := c.ReadDiscreteInputs(1, hh, 1); err != nil || !bits[0] {
			t.Fatalf("spoofed level_hh reads %v %v", bits, err)
		}
		if tv := tagValue(t, plc, "level_hh"); tv.Truth != 0 {
			t.Fatalf("level_hh truth %v", tv.Truth)
		}
		apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: "level_hh"})
		apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: "level"})
		scan(plc)
		truth := tagValue(t, plc, "level").Truth
		if r, f := readLevel(); r != def.Scale(truth) || f != float32(truth) {
			t.Fatalf("released level reads %d / %v, truth %v", r, f, truth)
		}
		if bits, err := c.ReadDiscreteInputs(1, hh, 1); err != nil || bits[0] {
			t.Fatalf("released level_hh reads %v %v", bits, err)
		}
	})

	t.Run("freeze", func(t *testing.T) {
		r0, f0 := readLevel()
		apply(plantsim.Effect{Kind: plantsim.EffectFreeze, Tag: "level"})
		advance(10 * time.Second)
		truth := tagValue(t, plc, "level").Truth
		if float32(truth)-f0 < 0.01 {
			t.Fatalf("level rose only from %v to %v; the test needs it to move", f0, truth)
		}
		if r, f := readLevel(); r != r0 || f != f0 {
			t.Fatalf("frozen level reads %d / %v, want %d / %v held", r, f, r0, f0)
		}
		apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: "level"})
		scan(plc)
		truth = tagValue(t, plc, "level").Truth
		if r, f := readLevel(); r != def.Scale(truth) || f != float32(truth) {
			t.Fatalf("released level reads %d / %v, truth %v", r, f, truth)
		}
	})

	t.Run("replay", func(t *testing.T) {
		// Record 30 scans of the rising level as a client sees it.
		var rec []float32
		for range 30 {
			scan(plc)
			_, f := readLevel()
			rec = append(rec, f)
		}
		last := rec[20:] // one second of scans
		if last[0] == last[9] {
			t.Fatalf("level did not move during the recording: %v", last)
		}
		apply(plantsim.Effect{Kind: plantsim.EffectReplay, Tag: "level", Window: 1})
		// Clients see the recording in order, over and over: one recorded
		// sample per scan, wrapping after the tenth. (Where in the loop the
		// replay starts is not part of the contract.)
		start := -1
		for i := range 25 {
			scan(plc)
			_, f := readLevel()
			if start < 0 {
				for k, v := range last {
					if v == f {
						start = k
					}
				}
				if start < 0 {
					t.Fatalf("first replayed value %v is not in the recording %v", f, last)
				}
			}
			if want := last[(start+i)%10]; f != want {
				t.Fatalf("replay scan %d reads %v, want %v (recording %v, replay started at sample %d)", i, f, want, last, start)
			}
		}
		tv := tagValue(t, plc, "level")
		if tv.Override != "replay" || float32(tv.Truth) <= last[9] {
			t.Fatalf("during replay: %+v, last recorded %v", tv, last[9])
		}
		apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: "level"})
		scan(plc)
		truth := tagValue(t, plc, "level").Truth
		if _, f := readLevel(); f != float32(truth) {
			t.Fatalf("released level reads %v, truth %v", f, truth)
		}
	})
}
