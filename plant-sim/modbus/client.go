package modbus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"
)

// Client is a minimal Modbus/TCP client. Attack injects need raw unit-id
// sweeps, FC43 fingerprinting and floods, which general clients don't offer,
// and sharing the framing code with the server keeps both honest. It is safe
// for concurrent use; requests are serialised on the one connection.
type Client struct {
	mu      sync.Mutex
	conn    net.Conn
	br      *bufio.Reader
	txID    uint16
	buf     []byte
	rbuf    []byte
	Timeout time.Duration // per request; default 2 s
}

// Dial connects to a Modbus/TCP server.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial modbus %s: %w", addr, err)
	}
	return NewClient(conn), nil
}

// NewClient wraps an established connection (plain TCP or TLS).
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, br: bufio.NewReaderSize(conn, MaxADU), buf: make([]byte, 0, MaxADU), rbuf: make([]byte, MaxADU), Timeout: 2 * time.Second}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// LocalAddr is the client's side of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Do sends one request PDU to unit and returns the response PDU. A Modbus
// exception response is returned as an Exception error.
func (c *Client) Do(unit byte, pdu []byte) ([]byte, error) {
	if len(pdu) == 0 || len(pdu) > MaxPDU {
		return nil, fmt.Errorf("modbus: request pdu of %d bytes", len(pdu))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.txID++
	tx := c.txID
	c.buf = AppendHeader(c.buf[:0], tx, unit, len(pdu))
	c.buf = append(c.buf, pdu...)
	if c.Timeout > 0 {
		if err := c.conn.SetDeadline(time.Now().Add(c.Timeout)); err != nil {
			return nil, err
		}
	}
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, fmt.Errorf("modbus write: %w", err)
	}
	for {
		h, resp, err := ReadFrame(c.br, c.rbuf)
		if err != nil {
			return nil, fmt.Errorf("modbus read: %w", err)
		}
		if h.TxID != tx {
			continue // a late answer to an earlier, timed-out request
		}
		if resp[0] == pdu[0]|0x80 && len(resp) == 2 {
			return nil, Exception(resp[1])
		}
		if resp[0] != pdu[0] {
			return nil, fmt.Errorf("modbus: response function %#02x to request %#02x", resp[0], pdu[0])
		}
		out := make([]byte, len(resp))
		copy(out, resp)
		return out, nil
	}
}

func readPDU(fc byte, addr, qty uint16) []byte {
	return []byte{fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
}

var errShort = errors.New("modbus: short response")

func (c *Client) readBits(unit, fc byte, addr, qty uint16) ([]bool, error) {
	resp, err := c.Do(unit, readPDU(fc, addr, qty))
	if err != nil {
		return nil, err
	}
	if len(resp) < 2 || len(resp) != 2+int(resp[1]) || int(resp[1]) < (int(qty)+7)/8 {
		return nil, errShort
	}
	out := make([]bool, qty)
	for i := range out {
		out[i] = Bit(resp[2:], i)
	}
	return out, nil
}

func (c *Client) readRegs(unit, fc byte, addr, qty uint16) ([]uint16, error) {
	resp, err := c.Do(unit, readPDU(fc, addr, qty))
	if err != nil {
		return nil, err
	}
	if len(resp) < 2 || int(resp[1]) != 2*int(qty) || len(resp) != 2+int(resp[1]) {
		return nil, errShort
	}
	out := make([]uint16, qty)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(resp[2+2*i:])
	}
	return out, nil
}

// ReadCoils reads qty coils (FC1).
func (c *Client) ReadCoils(unit byte, addr, qty uint16) ([]bool, error) {
	return c.readBits(unit, FuncReadCoils, addr, qty)
}

// ReadDiscreteInputs reads qty discrete inputs (FC2).
func (c *Client) ReadDiscreteInputs(unit byte, addr, qty uint16) ([]bool, error) {
	return c.readBits(unit, FuncReadDiscreteInputs, addr, qty)
}

// ReadHoldingRegisters reads qty holding registers (FC3).
func (c *Client) ReadHoldingRegisters(unit byte, addr, qty uint16) ([]uint16, error) {
	return c.readRegs(unit, FuncReadHoldingRegisters, addr, qty)
}

// ReadInputRegisters reads qty input registers (FC4).
func (c *Client) ReadInputRegisters(unit byte, addr, qty uint16) ([]uint16, error) {
	return c.readRegs(unit, FuncReadInputRegisters, addr, qty)
}

// WriteCoil writes one coil (FC5).
func (c *Client) WriteCoil(unit byte, addr uint16, v bool) error {
	val := uint16(0)
	if v {
		val = 0xFF00
	}
	_, err := c.Do(unit, readPDU(FuncWriteSingleCoil, addr, val))
	return err
}

// WriteRegister writes one holding register (FC6).
func (c *Client) WriteRegister(unit byte, addr, v uint16) error {
	_, err := c.Do(unit, readPDU(FuncWriteSingleRegister, addr, v))
	return err
}

// WriteRegisters writes consecutive holding registers (FC16).
func (c *Client) WriteRegisters(unit byte, addr uint16, vals []uint16) error {
	pdu := []byte{FuncWriteMultipleRegisters, byte(addr >> 8), byte(addr), byte(len(vals) >> 8), byte(len(vals)), byte(2 * len(vals))}
	for _, v := range vals {
		pdu = binary.BigEndian.AppendUint16(pdu, v)
	}
	_, err := c.Do(unit, pdu)
	return err
}

// WriteCoils writes consecutive coils (FC15).
func (c *Client) WriteCoils(unit byte, addr uint16, vals []bool) error {
	n := (len(vals) + 7) / 8
	pdu := []byte{FuncWriteMultipleCoils, byte(addr >> 8), byte(addr), byte(len(vals) >> 8), byte(len(vals)), byte(n)}
	pdu = append(pdu, make([]byte, n)...)
	for i, v := range vals {
		SetBit(pdu[6:], i, v)
	}
	_, err := c.Do(unit, pdu)
	return err
}

// WriteFloat32 writes an IEEE-754 value as two registers, high word first.
func (c *Client) WriteFloat32(unit byte, addr uint16, v float32) error {
	b := math.Float32bits(v)
	return c.WriteRegisters(unit, addr, []uint16{uint16(b >> 16), uint16(b)})
}

// ReadDeviceID reads all basic and regular identification objects (FC43/14,
// following "more follows").
func (c *Client) ReadDeviceID(unit byte) (map[byte]string, error) {
	out := map[byte]string{}
	next := byte(0)
	for range 256 {
		resp, err := c.Do(unit, []byte{FuncEncapsulatedInterface, MEIReadDeviceID, 2, next})
		if err != nil {
			return out, err
		}
		if len(resp) < 7 {
			return out, errShort
		}
		more, nextID, count := resp[4], resp[5], int(resp[6])
		p := resp[7:]
		for range count {
			if len(p) < 2 || len(p) < 2+int(p[1]) {
				return out, errShort
			}
			out[p[0]] = string(p[2 : 2+int(p[1])])
			p = p[2+int(p[1]):]
		}
		if more != 0xFF {
			return out, nil
		}
		next = nextID
	}
	return out, errors.New("modbus: device id stream did not end")
}
