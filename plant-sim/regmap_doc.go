package plantsim

import (
	"fmt"
	"io"
	"strings"
)

// WriteMapsMarkdown writes the register maps of every model as Markdown;
// docs/register-maps.md is this output, checked current by a test.
func WriteMapsMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# Register maps

Generated from the models (` + "`go test ./plant-sim -run TestRegisterMapsDoc -update-docs`" + `);
` + "`icsrange plc --model M --print-map`" + ` prints the same (` + "`--map-format json`" + ` as JSON).
Each tag is declared once; its Modbus address, IEC 104 points and OPC UA
node all follow from that declaration.

## One convention for every model

| table | addresses (0-based) | holds |
|---|---|---|
| coils (FC1, FC5, FC15) | 0… | modes, commands, safety bypass |
| discrete inputs (FC2) | 0… | feedback, alarms, trips |
| input registers (FC4) | 0… | process values, uint16 scaled: 0–65535 spans the tag's min–max |
| | 100… | the same values as IEEE-754 float32, two registers each, **high word first** |
| | 200–207 | diagnostics: scan count, uptime (s), logic checksum (each uint32, high word first), mode (0 stop, 1 run, 2 program, 3 fault), scan period (ms) |
| holding registers (FC3, FC6, FC16, FC23) | 0… | setpoints, limits, tuning, uint16 scaled |
| | 100… | the same as float32, two registers each, high word first |

Addresses between the blocks answer exception 02. **1-based references**
(mbpoll's default ` + "`-r`" + `) are the 0-based address + 1; with ` + "`mbpoll -0`" + ` use the
0-based address. mbpoll reads our floats with ` + "`-t 4:float -B`" + ` (its default word
order is low word first). Modicon references (00001/10001/30001/40001) are
given for HMI tools that want them.

Writes land in the PLC's memory at the start of its next scan (OpenPLC
style): a read right after a write returns what was written, the next scan
clamps it to the tag's range. A float32 write of NaN is ignored.

**Modbus/TCP Security roles** (TLS client certificates, role extension OID
1.3.6.1.4.1.50316.802.1): ` + "`operator`" + ` may write modes, commands and setpoints;
` + "`engineer`" + ` may also write limits, tuning and the bypass; any other role, or
none, may only read. A refused write answers exception 01. Plain TCP clients
may write everything, as on an unsecured PLC.

**Safety layer.** Each model has an independent safety function that acts on
ground truth, not on the PLC's measurements, and whose trip settings are not
registers: no setpoint write defeats it. Only the ` + "`bypass`" + ` coil does.

**Logic programs.** ` + "`standard`" + ` is the plant's program; ` + "`tampered`" + ` is a malicious
replacement an inject can load. The logic checksum (input registers 204–205)
tells them apart.

**Alarms and incidents.** The engine logs an alarm or trip (` + "`plant.alarm`" + `) the
moment its bit sets, and its end only once the bit has stayed clear for the
model's **alarm hold** (given with each model below; the default is 10 s). A
bit that clears and sets again within the hold is the same alarm, and for a
safety incident the same incident: one line on the scoreboard, one count.
Rules read the bits themselves (` + "`plant.<plc>.<tag>`" + `), without the hold.

**Physics and logic.** Each model's section states its equations with the
unit of every symbol, the PLC's loops, interlocks and alarms (with their
hysteresis), the safety layer and what the tampered program does. A
parameter described as "an input another unit's outflow can drive" is where
the unit takes its feed from upstream; an ` + "`outflow`" + `, ` + "`flow`" + ` or ` + "`power`" + ` process
value is what it passes on.
`)
	fmt.Fprintf(&b, `
**Connections.** A PLC serves %d Modbus/TCP connections at once (`+"`icsrange plc --max-clients`"+`).
It closes one that completes no request for %v (`+"`--idle-timeout`"+`), and one that
begins a request frame and does not complete it within %v (`+"`--frame-timeout`"+`,
scenario PLC `+"`frame_timeout`"+`, %v–%v): a client sending a byte now and then holds
no slot. When every slot is taken, a new connection takes the slot of the
connection idle longest, if that one has completed no request for %v; else it
is refused. A flood's connections keep polling, so none is ever that idle: a
flood still takes every slot and trainees' tools are refused (ATT&CK T0814).
The PLC's audit trail records each `+"`refused`"+`, `+"`evicted`"+` and `+"`frame-timeout`"+`.
`, DefaultMaxClients, DefaultIdleTimeout, DefaultFrameTimeout, MinFrameTimeout, MaxFrameTimeout, DefaultEvictAfter)
	b.WriteString(`
## The same tags over IEC 60870-5-104 and OPC UA

Every PLC can also serve its tags over IEC 60870-5-104 (` + "`icsrange plc --iec104`" + `)
and OPC UA (` + "`--opcua`" + `); see [protocols.md](protocols.md). Both read the same
register image as Modbus (the reported view, spoofs included) and write
through the same path, so their writes too land at the next scan.

**IEC 104 information object addresses** follow from the Modbus map: a
block's base plus the tag's 1-based address in its table.

| IOA | type | holds |
|---|---|---|
| 1001… | M_SP_NA_1, feedback as M_DP_NA_1 (1 off, 2 on) | discrete inputs |
| 2001… | M_SP_NA_1 | coils, read back |
| 3001… | M_ME_NC_1 (short float) | input registers |
| 4001… | M_ME_NB_1 (scaled: engineering value × the scale shown) | input registers |
| 5001… | M_ME_NC_1 | holding registers, read back |
| 6001… | C_SC_NA_1 (also C_SC_TA_1) | coils: SCS writes the coil |
| 7001… | C_DC_NA_1 (also C_DC_TA_1) | coils: ON writes 1, OFF writes 0, or pulses the paired coil shown (close/open) |
| 8001… | C_SE_NC_1 (also C_SE_TC_1) | holding registers |
| 9001… | C_SE_NB_1 (also C_SE_TB_1) | holding registers, scaled |

A general interrogation returns every monitored point (1001–5999) with cause
20; changes are sent spontaneously (cause 3) with CP56Time2a (M_SP_TB_1,
M_DP_TB_1, M_ME_TF_1, M_ME_TE_1), analog points once they move more than
` + fmt.Sprintf("%g", DefaultDeadband*100) + ` % of their span from what that connection was last sent.

**OPC UA nodes** are ` + "`ns=1;s=<tag>`" + ` under ` + "`Objects/<plc id>`" + ` (namespace 1 is the
PLC's application URI, ` + "`urn:icsrange:plc:<plc id>`" + `): Boolean for bits, Float for
analog values (with EURange and EngineeringUnits properties), writable
(AccessLevel CurrentWrite) exactly for coils and holding registers; the
diagnostics are UInt32/UInt16 variables ` + "`ns=1;s=diag.*`" + `.

**Connections** to either are held as Modbus connections are, in slots of
each protocol's own (` + "`--max-clients`" + ` of them): an APDU or message chunk begun
must be complete within the frame timeout, and when every slot is taken a
new connection takes the slot of the connection idle longest, if that one
has completed no frame for ` + DefaultEvictAfter.String() + `. OPC UA closes a connection idle for
` + "`--idle-timeout`" + `; IEC 104 tests an idle link with TESTFR after t3 and closes it
when t1 passes without the confirmation. The audit trail records them as
for Modbus, "over IEC 104" or "over OPC UA".
`)
	for _, name := range ModelNames() {
		m := models[name]
		fmt.Fprintf(&b, "\n## %s — %s\n\n%s\n\n", m.Name, m.Title, m.Desc)
		if len(m.Equations) > 0 {
			b.WriteString("**Physics and logic**\n\n")
			for _, e := range m.Equations {
				fmt.Fprintf(&b, "- %s\n", e)
			}
			b.WriteString("\n")
		}
		b.WriteString("| table | 0-based | 1-based | Modicon | float32 (0-based) | tag | class | unit | range | write role | IEC 104 | OPC UA node | description |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, e := range m.Map() {
			fl, rng, role := "", "0/1", ""
			if e.Float >= 0 {
				fl = fmt.Sprintf("%d–%d", e.Float, e.Float+1)
				rng = fmt.Sprintf("%g–%g", e.Min, e.Max)
			}
			if e.Class == "diagnostic" {
				rng = "raw"
			}
			if e.Writable {
				role = e.Role
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | `%s` | %s | %s | %s | %s | %s | `%s` | %s |\n",
				e.Table, e.Address, e.Ref, e.Modicon, fl, e.Tag, e.Class, e.Unit, rng, role,
				iecText(e.IEC104, "<br>"), e.OPCUA, e.Desc)
		}
		b.WriteString("\n**Parameters** (scenario `params:`)\n\n| name | default | range | unit | meaning |\n|---|---|---|---|---|\n")
		for _, p := range m.Params {
			fmt.Fprintf(&b, "| `%s` | %g | %g–%g | %s | %s |\n", p.Name, p.Default, p.Min, p.Max, p.Unit, p.Desc)
		}
		b.WriteString("\n**Faults** (management API, scenario `fault:` effect)\n\n")
		for _, f := range m.AllFaults() {
			fmt.Fprintf(&b, "- `%s`: %s\n", f.Name, f.Desc)
		}
		fmt.Fprintf(&b, "\n**Logic programs:** %s. ", strings.Join(m.Programs, ", "))
		var sums []string
		for i, p := range m.Programs {
			sums = append(sums, fmt.Sprintf("%s = `%08X`", p, m.Checksum(i)))
		}
		fmt.Fprintf(&b, "Checksums: %s. **Safety incidents:** %s. **Alarm hold:** %g s.\n", strings.Join(sums, ", "),
			strings.Join(m.Incidents, ", "), m.AlarmHold.Seconds())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
