package plantsim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// MapEntry is one line of a register map.
type MapEntry struct {
	Table    string  `json:"table"`
	Address  int     `json:"address"`              // 0-based, as on the wire
	Ref      int     `json:"ref"`                  // 1-based, as mbpoll -r takes it without -0
	Modicon  string  `json:"modicon"`              // 00001 / 10001 / 30001 / 40001 style
	Float    int     `json:"float_address"`        // 0-based address of the float32 pair, -1 for bits
	Tag      string  `json:"tag"`                  // tag name, or the diagnostic's name
	Class    string  `json:"class"`                // what the tag is for
	Unit     string  `json:"unit,omitempty"`       //
	Min      float64 `json:"min"`                  // engineering value at register 0
	Max      float64 `json:"max"`                  // engineering value at register 65535
	Desc     string  `json:"description"`          //
	Writable bool    `json:"writable"`             // coils and holding registers
	Role     string  `json:"min_role,omitempty"`   // least Modbus/TCP Security role that may write
	Noise    float64 `json:"noise_frac,omitempty"` // nominal sensor noise as a fraction of span
	// The same tag over the other protocols: its IEC 104 points and its
	// OPC UA node (the float32 mirror and both words of a diagnostic share
	// their row's).
	IEC104 []IECRef `json:"iec104,omitempty"`
	OPCUA  string   `json:"opcua_node,omitempty"`
}

var modiconBase = [4]int{0, 10000, 30000, 40000}

// Map lists the model's register map in table and address order, including
// the float32 mirrors' addresses and the diagnostic registers.
func (m *Model) Map() []MapEntry {
	l := m.layout
	var out []MapEntry
	for tb := range 4 {
		for _, i := range l.Tables[tb] {
			t := m.Tags[i]
			a := l.Addr[i]
			e := MapEntry{
				Table: Table(tb).String(), Address: a, Ref: a + 1,
				Modicon: fmt.Sprintf("%05d", modiconBase[tb]+a+1), Float: l.Float[i],
				Tag: t.Name, Class: t.Class.String(), Unit: t.Unit, Desc: t.Desc, Noise: t.Noise,
				Writable: t.Table == Coil || t.Table == HoldingRegister,
				IEC104:   m.iecRefs(i), OPCUA: UANodeID(t.Name),
			}
			if t.Analog() {
				e.Min, e.Max = t.Min, t.Max
			} else {
				e.Max = 1
			}
			if e.Writable {
				e.Role = string(RoleEngineer)
				if RoleOperator.mayWrite(t.Class) {
					e.Role = string(RoleOperator)
				}
			}
			out = append(out, e)
		}
		if Table(tb) == InputRegister {
			for d, name := range DiagNames {
				a := DiagBase + d
				out = append(out, MapEntry{
					Table: InputRegister.String(), Address: a, Ref: a + 1,
					Modicon: fmt.Sprintf("%05d", modiconBase[tb]+a+1), Float: -1,
					Tag: "diag." + strings.Fields(name)[0], Class: "diagnostic", Desc: name, Max: 65535,
					OPCUA: UANodeID(uaDiagName(d)),
				})
			}
		}
	}
	return out
}

// PrintMap writes the register map as an aligned text table.
func (m *Model) PrintMap(w io.Writer) error {
	fmt.Fprintf(w, "%s — %s\n\n%s\n\n", m.Name, m.Title, m.Desc)
	for _, e := range m.Equations {
		fmt.Fprintf(w, "  - %s\n", e)
	}
	if len(m.Equations) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Analog values: uint16 scaled so 0..65535 spans min..max, and float32 (IEEE 754,\n"+
		"high word first) at the float address. 0-based addresses are what goes on the\n"+
		"wire (mbpoll -0 -r ADDR); 1-based refs are mbpoll's default (-r REF).\n"+
		"IEC 104: information object addresses and types (common address from --iec104-ca);\n"+
		"scaled values are the engineering value × the scale. OPC UA: node ids under\n"+
		"Objects/<plc id>; writable exactly where Modbus is.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\t0-BASED\t1-BASED\tMODICON\tFLOAT32\tTAG\tCLASS\tUNIT\tRANGE\tWRITE ROLE\tIEC 104\tOPC UA\tDESCRIPTION")
	for _, e := range m.Map() {
		fl := "-"
		if e.Float >= 0 {
			fl = fmt.Sprintf("%d-%d", e.Float, e.Float+1)
		}
		rng := "0/1"
		switch {
		case e.Class == "diagnostic":
			rng = "raw"
		case e.Float >= 0:
			rng = fmt.Sprintf("%g..%g", e.Min, e.Max)
		}
		role := "-"
		if e.Writable {
			role = e.Role
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			e.Table, e.Address, e.Ref, e.Modicon, fl, e.Tag, e.Class, dash(e.Unit), rng, role,
			dash(iecText(e.IEC104, ", ")), dash(e.OPCUA), e.Desc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nParameters (scenario params:):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range m.Params {
		fmt.Fprintf(tw, "  %s\t%g\t%s\t%g..%g\t%s\n", p.Name, p.Default, dash(p.Unit), p.Min, p.Max, p.Desc)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nFaults (management API):\n")
	for _, f := range m.AllFaults() {
		fmt.Fprintf(w, "  %s: %s\n", f.Name, f.Desc)
	}
	fmt.Fprintf(w, "\nLogic programs: %s (checksums:", strings.Join(m.Programs, ", "))
	for i := range m.Programs {
		fmt.Fprintf(w, " %08X", m.Checksum(i))
	}
	fmt.Fprintln(w, ")")
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
