package plantsim

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Role is a Modbus/TCP Security role from a client certificate. Plain TCP
// clients have RoleNone and may do everything, as on an unsecured PLC.
type Role string

// Roles we authorise. Any other role read from a certificate may only read.
const (
	RoleNone     Role = ""
	RoleOperator Role = "operator" // may write modes, commands and setpoints
	RoleEngineer Role = "engineer" // may also write limits, tuning and bypass
	RoleViewer   Role = "viewer"   // reads only
)

func (r Role) mayWrite(c Class) bool {
	switch r {
	case RoleNone, RoleEngineer:
		return true
	case RoleOperator:
		return c == ClassMode || c == ClassCommand || c == ClassSetpoint
	}
	return false
}

// handle serves one request PDU and appends the response PDU to out. It
// returns ok=false when the PLC must not answer at all (communication loss).
// Unit-id routing is the caller's.
func (p *PLC) handle(pdu []byte, role Role, out []byte) ([]byte, bool) {
	out, ok, _ := p.handleAt(pdu, role, out)
	return out, ok
}

// handleAt is handle that also says the PLC's clock when it answered.
func (p *PLC) handleAt(pdu []byte, role Role, out []byte) (_ []byte, _ bool, now time.Duration) {
	req, ex := modbus.ParseRequest(pdu)
	fc := byte(0)
	if len(pdu) > 0 {
		fc = pdu[0]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.now
	if p.commLoss {
		return out, false, now
	}
	if ex != 0 {
		return modbus.AppendException(out, fc, ex), true, now
	}
	if req.Function == modbus.FuncEncapsulatedInterface {
		id := modbus.DeviceID{
			modbus.ObjVendorName:          p.deviceID.vendor,
			modbus.ObjProductCode:         p.deviceID.product,
			modbus.ObjMajorMinorRevision:  "1.0",
			modbus.ObjVendorURL:           "https://github.com/icsrange/icsrange",
			modbus.ObjProductName:         "icsrange simulated PLC",
			modbus.ObjModelName:           p.deviceID.model,
			modbus.ObjUserApplicationName: p.deviceID.app,
		}
		out, ex = modbus.AppendDeviceID(out, &id, req)
		if ex != 0 {
			return modbus.AppendException(out, fc, ex), true, now
		}
		return out, true, now
	}
	out, ex = p.execute(&req, role, out)
	if ex != 0 {
		return modbus.AppendException(out, fc, ex), true, now
	}
	return out, true, now
}

// reject answers a request for another unit id with exception 0B, or not at
// all during communication loss: a PLC that has gone silent must not give
// itself away to a unit-id sweep.
func (p *PLC) reject(fc byte, out []byte) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.commLoss {
		return out, false
	}
	return modbus.AppendException(out, fc, modbus.ExGatewayTargetNoAck), true
}

func (p *PLC) execute(r *modbus.Request, role Role, out []byte) ([]byte, modbus.Exception) {
	l := p.layout
	addr, qty := int(r.Addr), int(r.Qty)
	switch r.Function {
	case modbus.FuncReadCoils, modbus.FuncReadDiscreteInputs:
		bits, t := p.coils, Coil
		if r.Function == modbus.FuncReadDiscreteInputs {
			bits, t = p.discretes, DiscreteInput
		}
		if !l.Valid(t, addr, qty) {
			return out, modbus.ExIllegalAddress
		}
		n := (qty + 7) / 8
		out = append(out, r.Function, byte(n))
		start := len(out)
		for range n {
			out = append(out, 0)
		}
		for i := range qty {
			if bits[addr+i] {
				modbus.SetBit(out[start:], i, true)
			}
		}
		return out, 0
	case modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters:
		regs, t := p.holding, HoldingRegister
		if r.Function == modbus.FuncReadInputRegisters {
			regs, t = p.input, InputRegister
		}
		if !l.Valid(t, addr, qty) {
			return out, modbus.ExIllegalAddress
		}
		return appendRegs(append(out, r.Function, byte(2*qty)), regs[addr:addr+qty]), 0
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteMultipleCoils:
		if !l.Valid(Coil, addr, qty) {
			return out, modbus.ExIllegalAddress
		}
		if ex := p.authorize(role, Coil, addr, qty); ex != 0 {
			return out, ex
		}
		for i := range qty {
			v := r.Value == 0xFF00
			if r.Function == modbus.FuncWriteMultipleCoils {
				v = modbus.Bit(r.Data, i)
			}
			p.coils[addr+i] = v
			p.dirtyCoil[addr+i] = true
		}
		p.dirty = true
		if r.Function == modbus.FuncWriteSingleCoil {
			return append(out, r.Function, byte(addr>>8), byte(addr), byte(r.Value>>8), byte(r.Value)), 0
		}
		return append(out, r.Function, byte(addr>>8), byte(addr), byte(qty>>8), byte(qty)), 0
	case modbus.FuncWriteSingleRegister, modbus.FuncWriteMultipleRegisters:
		if !l.Valid(HoldingRegister, addr, qty) {
			return out, modbus.ExIllegalAddress
		}
		if ex := p.authorize(role, HoldingRegister, addr, qty); ex != 0 {
			return out, ex
		}
		if r.Function == modbus.FuncWriteSingleRegister {
			p.writeHolding(addr, r.Value)
			return append(out, r.Function, byte(addr>>8), byte(addr), byte(r.Value>>8), byte(r.Value)), 0
		}
		for i := range qty {
			p.writeHolding(addr+i, binary.BigEndian.Uint16(r.Data[2*i:]))
		}
		return append(out, r.Function, byte(addr>>8), byte(addr), byte(qty>>8), byte(qty)), 0
	case modbus.FuncReadWriteRegisters:
		// The write happens before the read, as the specification says.
		waddr, wqty := int(r.WAddr), int(r.WQty)
		if !l.Valid(HoldingRegister, addr, qty) || !l.Valid(HoldingRegister, waddr, wqty) {
			return out, modbus.ExIllegalAddress
		}
		if ex := p.authorize(role, HoldingRegister, waddr, wqty); ex != 0 {
			return out, ex
		}
		for i := range wqty {
			p.writeHolding(waddr+i, binary.BigEndian.Uint16(r.Data[2*i:]))
		}
		return appendRegs(append(out, r.Function, byte(2*qty)), p.holding[addr:addr+qty]), 0
	}
	return out, modbus.ExIllegalFunction
}

func (p *PLC) writeHolding(addr int, v uint16) {
	p.holding[addr] = v
	p.dirtyHold[addr] = true
	p.dirty = true
}

// netWrite writes an engineering value to a coil or holding tag the way a
// Modbus client's write does (FC5, or FC16 to the tag's float32 pair): into
// the register image, latched into PLC memory at the next scan, marked as
// from the network. IEC 104 commands and OPC UA writes come through here.
// The lock is held.
func (p *PLC) netWrite(tag int, v float64) {
	l := p.layout
	if p.model.Tags[tag].Table == Coil {
		a := l.Addr[tag]
		p.coils[a] = v >= 0.5
		p.dirtyCoil[a] = true
		p.dirty = true
		return
	}
	fa := l.Float[tag]
	b := math.Float32bits(float32(v))
	p.writeHolding(fa, uint16(b>>16))
	p.writeHolding(fa+1, uint16(b))
}

// imageValue is what a client reads for a tag from the register image: a
// bit, or the float32 mirror of an analog value. The lock is held.
func (p *PLC) imageValue(tag int) float64 {
	l := p.layout
	a := l.Addr[tag]
	switch p.model.Tags[tag].Table {
	case Coil:
		return b2f(p.coils[a])
	case DiscreteInput:
		return b2f(p.discretes[a])
	case InputRegister:
		return regsFloat32(p.input[l.Float[tag]:])
	}
	return regsFloat32(p.holding[l.Float[tag]:])
}

// regsFloat32 decodes a float32 from two registers, high word first.
func regsFloat32(r []uint16) float64 {
	return float64(math.Float32frombits(uint32(r[0])<<16 | uint32(r[1])))
}

// authorize checks a write against the client's role. The Modbus/TCP
// Security specification answers an authorisation failure with exception 01.
func (p *PLC) authorize(role Role, t Table, addr, qty int) modbus.Exception {
	if role == RoleNone || role == RoleEngineer {
		return 0
	}
	for a := addr; a < addr+qty; a++ {
		if !role.mayWrite(p.model.Tags[p.layout.tagAt(t, a)].Class) {
			return modbus.ExIllegalFunction
		}
	}
	return 0
}

func appendRegs(out []byte, regs []uint16) []byte {
	for _, v := range regs {
		out = append(out, byte(v>>8), byte(v))
	}
	return out
}
