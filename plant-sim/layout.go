package plantsim

// Register map convention, the same for every model:
//
//	coils              0..       modes, commands, bypass (one bit per tag)
//	discrete inputs    0..       feedback, alarms, trips
//	input registers    0..       process values, uint16 scaled over the tag's range
//	                   100..     the same values as float32, two registers each, high word first
//	                   200..207  diagnostics (see Diag*)
//	holding registers  0..       setpoints, limits, tuning, uint16 scaled
//	                   100..     the same as float32, two registers each, high word first
//
// Addresses between the blocks are not mapped and answer exception 02.
const (
	FloatBase = 100
	DiagBase  = 200
)

// Diagnostic input registers, relative to DiagBase.
const (
	DiagScanCountHi = iota
	DiagScanCountLo
	DiagUptimeHi
	DiagUptimeLo
	DiagChecksumHi
	DiagChecksumLo
	DiagMode
	DiagScanMs
	diagCount
)

// DiagNames name the diagnostic registers for maps and docs.
var DiagNames = [diagCount]string{
	"scan_count (high word)", "scan_count (low word)",
	"uptime_s (high word)", "uptime_s (low word)",
	"logic_checksum (high word)", "logic_checksum (low word)",
	"mode (0 stop, 1 run, 2 program, 3 fault)", "scan_ms",
}

type block struct{ start, end int }

// Layout is a model's register map: where each tag lives.
type Layout struct {
	Addr   []int // per tag: bit or scaled register address
	Float  []int // per tag: float32 address, -1 for bits
	Tables [4][]int
	blocks [4][]block
	size   [4]int // image size per table (highest mapped address + 1)
}

func newLayout(m *Model) *Layout {
	l := &Layout{Addr: make([]int, len(m.Tags)), Float: make([]int, len(m.Tags))}
	for i, t := range m.Tags {
		n := len(l.Tables[t.Table])
		l.Tables[t.Table] = append(l.Tables[t.Table], i)
		l.Addr[i] = n
		l.Float[i] = -1
		if t.Analog() {
			l.Float[i] = FloatBase + 2*n
		}
	}
	for tb := range l.Tables {
		n := len(l.Tables[tb])
		bs := []block{{0, n}}
		if !Table(tb).Bool() {
			bs = append(bs, block{FloatBase, FloatBase + 2*n})
		}
		if Table(tb) == InputRegister {
			bs = append(bs, block{DiagBase, DiagBase + diagCount})
		}
		l.blocks[tb] = bs
		l.size[tb] = bs[len(bs)-1].end
	}
	return l
}

// Valid reports whether [addr, addr+qty) is mapped in the table.
func (l *Layout) Valid(t Table, addr, qty int) bool {
	for _, b := range l.blocks[t] {
		if addr >= b.start && addr < b.end {
			return addr+qty <= b.end
		}
	}
	return false
}

// TagAt returns the tag at a coil or holding register address (scaled or
// float32 block).
func (l *Layout) TagAt(t Table, addr int) (int, bool) {
	i := l.tagAt(t, addr)
	return i, i >= 0
}

// tagAt returns the tag at a coil or holding register address, or -1.
func (l *Layout) tagAt(t Table, addr int) int {
	tags := l.Tables[t]
	if addr < len(tags) {
		return tags[addr]
	}
	if addr >= FloatBase && addr < FloatBase+2*len(tags) {
		return tags[(addr-FloatBase)/2]
	}
	return -1
}
