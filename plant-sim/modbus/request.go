package modbus

import (
	"encoding/binary"
	"fmt"
)

// Exception is a Modbus exception code. The zero value means "no exception".
type Exception byte

// Exception codes from the Modbus application protocol specification.
const (
	ExIllegalFunction    Exception = 0x01
	ExIllegalAddress     Exception = 0x02
	ExIllegalValue       Exception = 0x03
	ExDeviceFailure      Exception = 0x04
	ExAcknowledge        Exception = 0x05
	ExBusy               Exception = 0x06
	ExGatewayPath        Exception = 0x0A
	ExGatewayTargetNoAck Exception = 0x0B
)

func (e Exception) Error() string {
	switch e {
	case ExIllegalFunction:
		return "modbus exception 01: illegal function"
	case ExIllegalAddress:
		return "modbus exception 02: illegal data address"
	case ExIllegalValue:
		return "modbus exception 03: illegal data value"
	case ExDeviceFailure:
		return "modbus exception 04: server device failure"
	case ExAcknowledge:
		return "modbus exception 05: acknowledge"
	case ExBusy:
		return "modbus exception 06: server device busy"
	case ExGatewayPath:
		return "modbus exception 0A: gateway path unavailable"
	case ExGatewayTargetNoAck:
		return "modbus exception 0B: gateway target device failed to respond"
	}
	return fmt.Sprintf("modbus exception %02X", byte(e))
}

// Quantity limits per function, from the specification.
const (
	MaxReadBits        = 2000
	MaxReadRegisters   = 125
	MaxWriteBits       = 1968
	MaxWriteRegisters  = 123
	MaxRWReadRegisters = 125
	MaxRWWriteRegister = 121
)

// Request is a parsed request PDU. Which fields are set depends on Function.
type Request struct {
	Function byte
	Addr     uint16 // first address read or written (FC23: read address)
	Qty      uint16 // quantity read or written (FC23: read quantity)
	Value    uint16 // FC5 (0x0000/0xFF00) and FC6 value
	WAddr    uint16 // FC23 write address
	WQty     uint16 // FC23 write quantity
	Data     []byte // FC15 packed bits, FC16/FC23 register bytes (aliases the PDU)
	ReadCode byte   // FC43/14 read device id code (1–4)
	ObjectID byte   // FC43/14 first object id
}

// IsWrite reports whether the request changes PLC memory.
func (r *Request) IsWrite() bool {
	switch r.Function {
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils,
		FuncWriteMultipleRegisters, FuncReadWriteRegisters:
		return true
	}
	return false
}

// ParseRequest decodes a request PDU and applies every check the
// specification makes before the address check: an unknown function gets 01,
// a malformed body or out-of-range quantity or value gets 03. Address checks
// (02) depend on the device's map and are the caller's.
func ParseRequest(pdu []byte) (Request, Exception) {
	var r Request
	if len(pdu) == 0 {
		return r, ExIllegalFunction
	}
	r.Function = pdu[0]
	body := pdu[1:]
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(body[i:]) }
	switch r.Function {
	case FuncReadCoils, FuncReadDiscreteInputs:
		if len(body) != 4 {
			return r, ExIllegalValue
		}
		r.Addr, r.Qty = u16(0), u16(2)
		if r.Qty < 1 || r.Qty > MaxReadBits {
			return r, ExIllegalValue
		}
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(body) != 4 {
			return r, ExIllegalValue
		}
		r.Addr, r.Qty = u16(0), u16(2)
		if r.Qty < 1 || r.Qty > MaxReadRegisters {
			return r, ExIllegalValue
		}
	case FuncWriteSingleCoil:
		if len(body) != 4 {
			return r, ExIllegalValue
		}
		r.Addr, r.Value, r.Qty = u16(0), u16(2), 1
		if r.Value != 0x0000 && r.Value != 0xFF00 {
			return r, ExIllegalValue
		}
	case FuncWriteSingleRegister:
		if len(body) != 4 {
			return r, ExIllegalValue
		}
		r.Addr, r.Value, r.Qty = u16(0), u16(2), 1
	case FuncWriteMultipleCoils:
		if len(body) < 5 {
			return r, ExIllegalValue
		}
		r.Addr, r.Qty = u16(0), u16(2)
		n := int(body[4])
		if r.Qty < 1 || r.Qty > MaxWriteBits || n != (int(r.Qty)+7)/8 || len(body) != 5+n {
			return r, ExIllegalValue
		}
		r.Data = body[5:]
	case FuncWriteMultipleRegisters:
		if len(body) < 5 {
			return r, ExIllegalValue
		}
		r.Addr, r.Qty = u16(0), u16(2)
		n := int(body[4])
		if r.Qty < 1 || r.Qty > MaxWriteRegisters || n != 2*int(r.Qty) || len(body) != 5+n {
			return r, ExIllegalValue
		}
		r.Data = body[5:]
	case FuncReadWriteRegisters:
		if len(body) < 9 {
			return r, ExIllegalValue
		}
		r.Addr, r.Qty, r.WAddr, r.WQty = u16(0), u16(2), u16(4), u16(6)
		n := int(body[8])
		if r.Qty < 1 || r.Qty > MaxRWReadRegisters || r.WQty < 1 || r.WQty > MaxRWWriteRegister ||
			n != 2*int(r.WQty) || len(body) != 9+n {
			return r, ExIllegalValue
		}
		r.Data = body[9:]
	case FuncEncapsulatedInterface:
		if len(body) < 1 || body[0] != MEIReadDeviceID {
			return r, ExIllegalFunction
		}
		if len(body) != 3 {
			return r, ExIllegalValue
		}
		r.ReadCode, r.ObjectID = body[1], body[2]
		if r.ReadCode < 1 || r.ReadCode > 4 {
			return r, ExIllegalValue
		}
	default:
		return r, ExIllegalFunction
	}
	return r, 0
}

// InRange reports whether [addr, addr+qty) lies inside [0, size). It guards
// against the uint16 wrap-around a naive addr+qty check would miss.
func InRange(addr, qty uint16, size int) bool {
	return qty > 0 && int(addr)+int(qty) <= size
}

// AppendException appends an exception response PDU.
func AppendException(dst []byte, function byte, ex Exception) []byte {
	return append(dst, function|0x80, byte(ex))
}

// Bit returns bit i of packed little-endian-bit data (FC1/2/15 layout).
func Bit(data []byte, i int) bool {
	return data[i/8]&(1<<(uint(i)%8)) != 0
}

// SetBit sets bit i of packed data.
func SetBit(data []byte, i int, v bool) {
	if v {
		data[i/8] |= 1 << (uint(i) % 8)
	} else {
		data[i/8] &^= 1 << (uint(i) % 8)
	}
}
