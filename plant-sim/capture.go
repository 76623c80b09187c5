package plantsim

import (
	"fmt"
	"sync"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Proto is the protocol a transaction was served over.
type Proto string

// The protocols a PLC serves.
const (
	ProtoModbus Proto = "modbus"
	ProtoIEC104 Proto = "iec104"
	ProtoOPCUA  Proto = "opcua"
)

// Transaction is one request a PLC served (or dropped), as the traffic log
// and pcap export need it: who, what, and the raw frames. The Modbus
// fields (Unit through Exception) describe Modbus transactions; IEC 104
// and OPC UA ones say what they did in Op, Items and Outcome.
type Transaction struct {
	Seq    uint64        `json:"seq"`
	Clock  time.Duration `json:"clock_ns"` // the PLC's clock when served
	Conn   uint64        `json:"conn"`     // connection number (a TCP stream)
	Source string        `json:"source"`   // client address as attributed (ip:port)
	Note   string        `json:"note,omitempty"`
	Listen string        `json:"listen"` // the PLC address the client reached
	// Proto is the protocol; records without one (from before IEC 104 and
	// OPC UA) are Modbus: see Protocol.
	Proto     Proto    `json:"proto,omitempty"`
	Unit      byte     `json:"unit"`
	Function  byte     `json:"fc"` // Modbus function code; IEC 104 type id (0 for S and U frames); OPC UA 0
	Addr      uint16   `json:"addr"`
	Qty       uint16   `json:"qty"`
	Values    []uint16 `json:"values,omitempty"` // what a Modbus write wrote (coils as 0/1)
	Exception byte     `json:"exception,omitempty"`
	// Op is what an IEC 104 or OPC UA transaction was: interrogation,
	// command, select, setpoint, read, clock, spontaneous, startdt, ack,
	// … (IEC 104) or the service (OPC UA: read, write, browse, publish, …).
	Op string `json:"op,omitempty"`
	// Station is an IEC 104 ASDU's common address.
	Station uint16 `json:"station,omitempty"`
	// Items are the points (IEC 104) or nodes (OPC UA) a transaction
	// addressed, with their tags, values and results.
	Items []Item `json:"items,omitempty"`
	// Outcome is empty for success, else what went wrong: a negative
	// confirmation, an OPC UA status, a protocol error that closed the
	// connection.
	Outcome  string `json:"outcome,omitempty"`
	NoReply  bool   `json:"no_reply,omitempty"` // dropped (communication loss)
	Request  []byte `json:"req"`                // the request frame(s); empty for what the PLC sent unasked
	Response []byte `json:"resp,omitempty"`     // the response frame(s)
}

// Item is one IEC 104 information object or OPC UA node of a transaction.
type Item struct {
	Point  string  `json:"point"`            // IEC 104 information object address; OPC UA node id
	Tag    string  `json:"tag,omitempty"`    // the tag it maps to
	Write  bool    `json:"write,omitempty"`  // it was written or commanded (Value is what)
	Value  float64 `json:"value,omitempty"`  // the value written, commanded or sent
	Status string  `json:"status,omitempty"` // empty when good, else why not
}

// Protocol is the transaction's protocol.
func (t *Transaction) Protocol() Proto {
	if t.Proto == "" {
		return ProtoModbus
	}
	return t.Proto
}

// IsWrite reports whether the transaction changed (or tried to change) PLC memory.
func (t *Transaction) IsWrite() bool {
	if t.Protocol() != ProtoModbus {
		for i := range t.Items {
			if t.Items[i].Write {
				return true
			}
		}
		return false
	}
	switch t.Function {
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister, modbus.FuncWriteMultipleCoils,
		modbus.FuncWriteMultipleRegisters, modbus.FuncReadWriteRegisters:
		return true
	}
	return false
}

// AuditEntry is a PLC audit-trail record.
type AuditEntry struct {
	Seq    uint64        `json:"seq"`
	Clock  time.Duration `json:"clock_ns"`
	Kind   string        `json:"kind"` // connect, disconnect, refused, evicted, frame-timeout, exception, session, mode, logic, trip, bypass, fault
	Source string        `json:"source,omitempty"`
	Detail string        `json:"detail"`
}

// Capture is what a PLC recorded since a point: its transactions and audit
// entries, and how many were lost to the ring's bound before anyone read them.
type Capture struct {
	Transactions []Transaction `json:"transactions"`
	Audit        []AuditEntry  `json:"audit"`
	Lost         uint64        `json:"lost"`
	Last         uint64        `json:"last"` // the highest seq handed out so far
}

// Ring sizes: the engine drains a PLC every second or so; these hold a
// flood's worth of records in between.
const (
	txRing    = 8192
	auditRing = 1024
)

// recorder keeps a PLC's recent transactions and audit entries. It has its
// own lock so the protocol servers' hot paths never wait for a scan.
type recorder struct {
	mu    sync.Mutex
	seq   uint64
	tx    []Transaction // ring, txRing slots, frame buffers reused
	txN   int           // records in the ring
	txPos int           // next slot
	au    []AuditEntry
	auN   int
	auPos int
	lost  uint64
	attr  map[string]attribution // client address → who it really is
}

type attribution struct {
	source, note string
}

func newRecorder() *recorder {
	// The slots' frame buffers grow on first use to the frames' size and
	// are reused after: preallocating MaxADU for every slot cost 4 MiB per
	// PLC, most of it never touched (typical frames are 12 bytes), and 1 s
	// to start 400 PLCs.
	return &recorder{tx: make([]Transaction, txRing), au: make([]AuditEntry, auditRing), attr: map[string]attribution{}}
}

// Attribute says that the connection from remote (ip:port) is really from
// source, e.g. an attack played from the scenario's attacker host, or a
// trainee's session forwarded by the engine. The Modbus, IEC 104 and
// OPC UA servers apply it to that connection's transactions.
func (p *PLC) Attribute(remote, source, note string) {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.attr) > 4096 {
		clear(r.attr) // stale entries of connections that never came
	}
	r.attr[remote] = attribution{source, note}
}

// attributed returns who a connection is, once, forgetting the entry.
func (p *PLC) attributed(remote string) (attribution, bool) {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.attr[remote]
	if ok {
		delete(r.attr, remote)
	}
	return a, ok
}

// slot takes the next ring slot for a transaction, keeping its buffers.
// The recorder's lock is held.
func (r *recorder) slot(clock time.Duration, c *connInfo, proto Proto, noReply bool) *Transaction {
	r.seq++
	if r.txN == txRing {
		r.lost++
	} else {
		r.txN++
	}
	t := &r.tx[r.txPos]
	r.txPos = (r.txPos + 1) % txRing
	reqBuf, respBuf, vals, items := t.Request[:0], t.Response[:0], t.Values[:0], t.Items[:0]
	*t = Transaction{Seq: r.seq, Clock: clock, Conn: c.id, Source: c.source, Note: c.note, Listen: c.listen,
		Proto: proto, NoReply: noReply, Request: reqBuf, Response: respBuf, Values: vals, Items: items}
	return t
}

// record stores a Modbus transaction, copying the frames into the ring's buffers.
func (p *PLC) record(clock time.Duration, c *connInfo, req, resp []byte, noReply bool) {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.slot(clock, c, ProtoModbus, noReply)
	t.Request = append(t.Request, req...)
	if !noReply {
		t.Response = append(t.Response, resp...)
	}
	if len(req) > modbus.HeaderLen {
		h := modbus.DecodeHeader(req)
		t.Unit = h.Unit
		pdu := req[modbus.HeaderLen:]
		t.Function = pdu[0]
		if pr, ex := modbus.ParseRequest(pdu); ex == 0 {
			t.Addr, t.Qty = pr.Addr, pr.Qty
			switch pr.Function {
			case modbus.FuncWriteSingleCoil:
				t.Values = append(t.Values, boolWord(pr.Value == 0xFF00))
			case modbus.FuncWriteSingleRegister:
				t.Values = append(t.Values, pr.Value)
			case modbus.FuncWriteMultipleCoils:
				for i := range int(pr.Qty) {
					t.Values = append(t.Values, boolWord(modbus.Bit(pr.Data, i)))
				}
			case modbus.FuncWriteMultipleRegisters:
				for i := range int(pr.Qty) {
					t.Values = append(t.Values, uint16(pr.Data[2*i])<<8|uint16(pr.Data[2*i+1]))
				}
			case modbus.FuncReadWriteRegisters:
				// The write part is what the log is about.
				t.Addr, t.Qty = pr.WAddr, pr.WQty
				for i := range int(pr.WQty) {
					t.Values = append(t.Values, uint16(pr.Data[2*i])<<8|uint16(pr.Data[2*i+1]))
				}
			}
		}
	}
	if len(resp) > modbus.HeaderLen+1 && !noReply && resp[modbus.HeaderLen]&0x80 != 0 {
		t.Exception = resp[modbus.HeaderLen+1]
	}
	if t.Exception != 0 {
		p.auditLocked(clock, "exception", c.source, fmt.Sprintf("exception %02X to FC%d from %s", t.Exception, t.Function, c.source))
	}
}

// exchange is what an IEC 104 or OPC UA server records of one transaction.
type exchange struct {
	proto    Proto
	op       string
	function byte
	station  uint16
	items    []Item
	outcome  string
	noReply  bool
	req      []byte // the frames as they were on the wire
	resp     []byte
}

// recordExchange stores an IEC 104 or OPC UA transaction, copying its
// frames and items into the ring's buffers.
func (p *PLC) recordExchange(clock time.Duration, c *connInfo, x *exchange) {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.slot(clock, c, x.proto, x.noReply)
	t.Op, t.Function, t.Station, t.Outcome = x.op, x.function, x.station, x.outcome
	t.Items = append(t.Items, x.items...)
	t.Request = append(t.Request, x.req...)
	if !x.noReply {
		t.Response = append(t.Response, x.resp...)
	}
}

func boolWord(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

// audit adds an audit entry.
func (p *PLC) audit(clock time.Duration, kind, source, detail string) {
	p.rec.mu.Lock()
	defer p.rec.mu.Unlock()
	p.auditLocked(clock, kind, source, detail)
}

func (p *PLC) auditLocked(clock time.Duration, kind, source, detail string) {
	r := p.rec
	r.seq++
	if r.auN == auditRing {
		r.lost++
	} else {
		r.auN++
	}
	r.au[r.auPos] = AuditEntry{Seq: r.seq, Clock: clock, Kind: kind, Source: source, Detail: detail}
	r.auPos = (r.auPos + 1) % auditRing
}

// Capture returns copies of the records with seq > after, oldest first.
func (p *PLC) Capture(after uint64) Capture {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Capture{Lost: r.lost, Last: r.seq, Transactions: []Transaction{}, Audit: []AuditEntry{}}
	// Walk back from the newest record: a drain is usually a handful.
	n := 0
	for n < r.txN && r.tx[(r.txPos-1-n+txRing)%txRing].Seq > after {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		t := &r.tx[(r.txPos-1-i+txRing)%txRing]
		c := *t
		c.Request = append([]byte(nil), t.Request...)
		c.Response = append([]byte(nil), t.Response...)
		c.Values = append([]uint16(nil), t.Values...)
		c.Items = append([]Item(nil), t.Items...)
		out.Transactions = append(out.Transactions, c)
	}
	n = 0
	for n < r.auN && r.au[(r.auPos-1-n+auditRing)%auditRing].Seq > after {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		out.Audit = append(out.Audit, r.au[(r.auPos-1-i+auditRing)%auditRing])
	}
	return out
}
