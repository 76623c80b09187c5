package plantsim

import (
	"fmt"
	"sync"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Transaction is one Modbus request a PLC served (or dropped), as the
// traffic log and pcap export need it: who, what, and the raw frames.
type Transaction struct {
	Seq       uint64        `json:"seq"`
	Clock     time.Duration `json:"clock_ns"` // the PLC's clock when served
	Conn      uint64        `json:"conn"`     // connection number (a TCP stream)
	Source    string        `json:"source"`   // client address as attributed (ip:port)
	Note      string        `json:"note,omitempty"`
	Listen    string        `json:"listen"` // the PLC address the client reached
	Unit      byte          `json:"unit"`
	Function  byte          `json:"fc"`
	Addr      uint16        `json:"addr"`
	Qty       uint16        `json:"qty"`
	Values    []uint16      `json:"values,omitempty"` // what a write wrote (coils as 0/1)
	Exception byte          `json:"exception,omitempty"`
	NoReply   bool          `json:"no_reply,omitempty"` // dropped (communication loss)
	Request   []byte        `json:"req"`                // the request ADU
	Response  []byte        `json:"resp,omitempty"`     // the response ADU
}

// IsWrite reports whether the transaction changed (or tried to change) PLC memory.
func (t *Transaction) IsWrite() bool {
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
	Kind   string        `json:"kind"` // connect, disconnect, refused, evicted, frame-timeout, exception, mode, logic, trip, bypass, fault
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
// own lock so the Modbus hot path never waits for a scan.
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
// trainee's session forwarded by the engine. The Modbus server applies it
// to that connection's transactions.
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

// record stores a transaction, copying the frames into the ring's buffers.
func (p *PLC) record(clock time.Duration, c *connInfo, req, resp []byte, noReply bool) {
	r := p.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if r.txN == txRing {
		r.lost++
	} else {
		r.txN++
	}
	t := &r.tx[r.txPos]
	r.txPos = (r.txPos + 1) % txRing
	reqBuf, respBuf, vals := t.Request[:0], t.Response[:0], t.Values[:0]
	*t = Transaction{Seq: r.seq, Clock: clock, Conn: c.id, Source: c.source, Note: c.note, Listen: c.listen, NoReply: noReply}
	t.Request = append(reqBuf, req...)
	if !noReply {
		t.Response = append(respBuf, resp...)
	} else {
		t.Response = respBuf
	}
	t.Values = vals
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
