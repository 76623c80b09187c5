package plantsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/icsrange/icsrange/plant-sim/iec104"
)

// IEC104Config configures an IEC 60870-5-104 server. Zero values take the
// standard's defaults.
type IEC104Config struct {
	// CA is the station's common address of ASDU, 1..65534; default 1.
	CA uint16
	// K is how many I-frames we send before the peer must acknowledge them
	// (default 12); W how many we receive before we acknowledge (default 8,
	// at most K).
	K, W int
	// T1 closes a connection whose peer leaves a sent I-frame or TESTFR
	// unacknowledged this long (default 15 s). T2 is the longest we wait to
	// acknowledge received I-frames (default 10 s, less than T1). T3 is the
	// idle time after which we test the link with TESTFR (default 20 s).
	T1, T2, T3 time.Duration
	// MaxClients, FrameTimeout (an APDU begun must be complete this long
	// after) and EvictAfter bound connections as ServerConfig's do; a
	// connection is idle from the last APDU it completed.
	MaxClients   int
	FrameTimeout time.Duration
	EvictAfter   time.Duration
	// SelectTimeout is how long a select waits for its execute; default 10 s.
	SelectTimeout time.Duration
	// RequireSelect refuses commands and set-points executed without a
	// select first (select-before-operate); otherwise direct execute works.
	RequireSelect bool
	// Deadband is the spontaneous threshold of analog points as a fraction
	// of their span: 0 means DefaultDeadband, negative every change.
	Deadband float64
	// Now is the clock of time tags (before clock synchronisation moves
	// it); default time.Now.
	Now func() time.Time
}

// DefaultIEC104Port is the IEC 104 TCP port.
const DefaultIEC104Port = 2404

func (c *IEC104Config) defaults() error {
	if c.CA == 0 {
		c.CA = 1
	}
	if c.CA == iec104.BroadcastCA {
		return errors.New("iec104: common address 65535 is the broadcast address")
	}
	if c.K == 0 {
		c.K = 12
	}
	if c.W == 0 {
		c.W = min(8, c.K)
	}
	if c.K < 1 || c.K > iec104.SeqMod-1 || c.W < 1 || c.W > c.K {
		return fmt.Errorf("iec104: k=%d, w=%d: want 1 <= w <= k < 32768", c.K, c.W)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.T1, 15*time.Second)
	def(&c.T2, 10*time.Second)
	def(&c.T3, 20*time.Second)
	def(&c.SelectTimeout, 10*time.Second)
	if c.T1 < 0 || c.T2 < 0 || c.T3 < 0 || c.SelectTimeout < 0 || c.T2 >= c.T1 {
		return fmt.Errorf("iec104: t1=%v t2=%v t3=%v: want positive timers and t2 < t1", c.T1, c.T2, c.T3)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// IEC104Server serves one PLC as an IEC 60870-5-104 controlled station on
// any number of listeners. It reads the same register image as the Modbus
// server (the reported view) and writes through the same path, so a
// command lands in PLC memory at the next scan like a Modbus write.
type IEC104Server struct {
	plc     *PLC
	cfg     IEC104Config
	cs      *conns
	pts     []Point
	ioaText []string     // each point's address as text, for the traffic log
	dead    []float64    // each point's deadband
	offset  atomic.Int64 // clock synchronisation: time tags are Now() plus this
	seenEI  atomic.Bool  // end of initialisation was sent to some connection
}

// NewIEC104Server returns an IEC 104 server for plc.
func NewIEC104Server(plc *PLC, cfg IEC104Config) (*IEC104Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	m := plc.model
	s := &IEC104Server{plc: plc, cfg: cfg, cs: newConns(plc, connLimits{MaxClients: cfg.MaxClients, FrameTimeout: cfg.FrameTimeout, EvictAfter: cfg.EvictAfter}, "IEC 104"), pts: m.points}
	s.ioaText = make([]string, len(s.pts))
	s.dead = make([]float64, len(s.pts))
	for i, p := range s.pts {
		s.ioaText[i] = strconv.FormatUint(uint64(p.IOA), 10)
		t := &m.Tags[p.Tag]
		switch {
		case cfg.Deadband == 0:
			s.dead[i] = p.Deadband
		case cfg.Deadband > 0:
			s.dead[i] = cfg.Deadband * (t.Max - t.Min)
		}
	}
	return s, nil
}

// Serve accepts connections on ln until Close. It always returns an error.
func (s *IEC104Server) Serve(ln net.Listener) error {
	return s.cs.serve(ln, s.serveConn)
}

// Close stops every listener and connection and waits for them to end.
func (s *IEC104Server) Close() error {
	s.cs.close()
	return nil
}

// Clients returns the number of open connections.
func (s *IEC104Server) Clients() int { return s.cs.count() }

// CA returns the station's common address.
func (s *IEC104Server) CA() uint16 { return s.cfg.CA }

// now is the station's time for time tags (UTC, as CP56Time2a carries no
// zone).
func (s *IEC104Server) now() time.Time {
	return s.cfg.Now().Add(time.Duration(s.offset.Load())).UTC()
}

// iecQueueLen bounds the ASDUs a connection holds while its peer's window
// is closed; a peer that lets more pile up is closed.
const iecQueueLen = 64

// iecFrame is one APDU handed from a connection's reader to its loop.
type iecFrame struct {
	apci iec104.APCI
	asdu []byte
	raw  []byte
	err  error
}

// iecConn is one connection's state, owned by its loop goroutine.
type iecConn struct {
	s    *IEC104Server
	p    *PLC
	conn net.Conn
	c    *connInfo

	started  bool // STARTDT: data transfer on
	stopping bool // STOPDT act received, waiting for our frames' acknowledgement
	vs, vr   uint16
	ack      uint16      // the oldest of our I-frames not yet acknowledged
	sentAt   []time.Time // send time of each unacknowledged I-frame, by sequence number (mask)
	sentMask uint16      // len(sentAt)-1: a power of two, so it divides 2^15
	unacked  int         // I-frames received and not yet acknowledged
	recvAt   time.Time   // when the first of them came
	lastRx   time.Time
	testAt   time.Time // TESTFR act sent and not confirmed; zero when none
	closeWhy string    // set when the connection must close

	out   []byte    // frames to write now
	qBuf  [][]byte  // ASDUs waiting for the window: a ring of fixed slots
	qHead int       // oldest queued
	qLen  int       //
	sel   iecSelect // the current selection (select-before-operate)
	cur   []float64 // point values this turn, by point index
	sent  []float64 // what this connection was last sent, by point index
	items []Item    // the current transaction's items
	asdu  []byte    // scratch for building an ASDU
	clock time.Duration
}

// iecSelect is a selected command waiting for its execute.
type iecSelect struct {
	active bool
	ioa    uint32
	typ    iec104.TypeID
	elem   [5]byte // the element without S/E and time
	n      int
	until  time.Time
}

func (s *IEC104Server) serveConn(conn net.Conn, ci *connInfo, sl *slot) {
	k := 1
	for k < s.cfg.K {
		k <<= 1
	}
	c := &iecConn{s: s, p: s.plc, conn: conn, c: ci, sentAt: make([]time.Time, k), sentMask: uint16(k - 1),
		out: make([]byte, 0, 4*iec104.MaxAPDU), qBuf: make([][]byte, iecQueueLen),
		cur: make([]float64, len(s.pts)), sent: make([]float64, len(s.pts)),
		items: make([]Item, 0, 16), asdu: make([]byte, 0, iec104.MaxASDU), lastRx: time.Now()}
	for i := range c.qBuf {
		c.qBuf[i] = make([]byte, 0, iec104.MaxASDU)
	}
	frames := make(chan iecFrame)
	next := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		br := bufio.NewReaderSize(conn, 2*iec104.MaxAPDU)
		buf := make([]byte, iec104.MaxAPDU)
		for {
			// No read deadline waits for an APDU to begin (t1 and t3 bound
			// a silent peer); one begun must be complete in the frame
			// timeout.
			framing, err := sl.beginFrame(conn, br, iec104.Pending, time.Time{})
			var f iecFrame
			if err == nil {
				f.apci, f.asdu, err = iec104.ReadAPDU(br, buf)
				err = sl.endFrame(conn, framing, err, time.Time{})
			}
			if f.err = err; err == nil {
				f.raw = buf[:2+int(buf[1])]
				sl.served(time.Now())
			}
			select {
			case frames <- f:
			case <-done:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-next:
			case <-done:
				return
			}
		}
	}()
	scans, stop := s.plc.watchScans()
	defer stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		c.timeouts(now)
		if c.closeWhy != "" {
			c.hangUp()
			return
		}
		timer.Reset(c.nextDeadline(now))
		select {
		case f := <-frames:
			if f.err != nil {
				// A frame timeout is the slot's to record; a connection
				// closed here was closed by the server (Close, eviction).
				if !errors.Is(f.err, io.EOF) && !errors.Is(f.err, net.ErrClosed) && !errors.Is(f.err, errFrameTimeout) && !isConnReset(f.err) {
					c.closeWhy = "framing error: " + f.err.Error()
					c.hangUp()
				}
				return
			}
			c.lastRx = time.Now()
			c.handle(&f)
			if c.closeWhy != "" {
				c.hangUp()
				return
			}
			next <- struct{}{}
		case <-scans:
			c.spontaneous()
		case <-timer.C:
		}
		if c.closeWhy != "" {
			c.hangUp()
			return
		}
	}
}

// isConnReset reports a peer that reset the connection.
func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// hangUp records why the connection closes.
func (c *iecConn) hangUp() {
	c.p.audit(c.p.Now(), "exception", c.c.source, fmt.Sprintf("IEC 104 connection from %s closed: %s", c.c.source, c.closeWhy))
}

// quiet reports communication loss: the station answers nothing. It also
// reads the PLC clock for the traffic log.
func (c *iecConn) quiet() bool {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	c.clock = p.now
	return p.commLoss
}

// handle serves one received APDU and records it with what we answered.
func (c *iecConn) handle(f *iecFrame) {
	c.out = c.out[:0]
	c.items = c.items[:0]
	x := exchange{proto: ProtoIEC104, req: f.raw, op: c.opOf(f)}
	if f.apci.Format == iec104.FormatI {
		x.function = f.asdu[0]
	}
	c.p.settle(c.c)
	if c.quiet() {
		x.noReply = true
		c.p.recordExchange(c.clock, c.c, &x)
		return
	}
	switch f.apci.Format {
	case iec104.FormatU:
		switch f.apci.Func {
		case iec104.StartDTAct:
			c.out = iec104.AppendU(c.out, iec104.StartDTCon)
			if !c.started {
				c.started, c.stopping = true, false
				c.readPoints()
				copy(c.sent, c.cur)
				c.endOfInit()
				c.flushQueue()
			}
		case iec104.StopDTAct:
			if c.vs == c.ack {
				c.started = false
				c.out = iec104.AppendU(c.out, iec104.StopDTCon)
			} else {
				c.stopping = true // confirmed once our frames are acknowledged
			}
		case iec104.TestFRAct:
			c.out = iec104.AppendU(c.out, iec104.TestFRCon)
		case iec104.TestFRCon:
			c.testAt = time.Time{}
		}
	case iec104.FormatS:
		c.acked(f.apci.Recv)
	case iec104.FormatI:
		if !c.started {
			c.closeWhy = "I-frame before STARTDT"
			break
		}
		if f.apci.Send != c.vr {
			c.closeWhy = fmt.Sprintf("sequence error: N(S)=%d, expected %d", f.apci.Send, c.vr)
			break
		}
		c.vr = (c.vr + 1) % iec104.SeqMod
		if c.unacked == 0 {
			c.recvAt = time.Now()
		}
		c.unacked++
		if !c.acked(f.apci.Recv) {
			break
		}
		x.op, x.station, x.outcome = c.serveASDU(f.asdu)
		if c.unacked >= c.s.cfg.W {
			c.sendS()
		}
	}
	if c.closeWhy != "" {
		x.outcome = "closed: " + c.closeWhy
	}
	x.items = c.items
	x.resp = c.out
	// Recorded before it is sent, as Modbus transactions are: whoever
	// sees the answer finds it in the log.
	c.p.recordExchange(c.clock, c.c, &x)
	c.write()
}

// opOf names what a frame was, for the traffic log.
func (c *iecConn) opOf(f *iecFrame) string {
	switch f.apci.Format {
	case iec104.FormatS:
		return "ack"
	case iec104.FormatU:
		switch f.apci.Func {
		case iec104.StartDTAct, iec104.StartDTCon:
			return "startdt"
		case iec104.StopDTAct, iec104.StopDTCon:
			return "stopdt"
		}
		return "testfr"
	}
	return opOfType(iec104.TypeID(f.asdu[0]))
}

// acked takes a peer's N(R): it must acknowledge only frames we sent.
func (c *iecConn) acked(nr uint16) bool {
	if iec104.SeqDiff(c.ack, nr) > iec104.SeqDiff(c.ack, c.vs) {
		c.closeWhy = fmt.Sprintf("N(R)=%d acknowledges frames never sent (next %d)", nr, c.vs)
		return false
	}
	c.ack = nr
	if c.stopping && c.ack == c.vs {
		c.started, c.stopping = false, false
		c.out = iec104.AppendU(c.out, iec104.StopDTCon)
	}
	c.flushQueue()
	return true
}

// sendI sends an ASDU as an I-frame now, or queues it while the peer's
// window is closed (or data transfer is stopping).
func (c *iecConn) sendI(asdu []byte) {
	if c.qLen == 0 && c.canSend() {
		c.frameI(asdu)
		return
	}
	if c.qLen == iecQueueLen {
		c.closeWhy = fmt.Sprintf("peer leaves %d frames unacknowledged and %d more waiting", c.s.cfg.K, iecQueueLen)
		return
	}
	slot := &c.qBuf[(c.qHead+c.qLen)%iecQueueLen]
	*slot = append((*slot)[:0], asdu...)
	c.qLen++
}

func (c *iecConn) canSend() bool {
	return c.started && !c.stopping && int(iec104.SeqDiff(c.ack, c.vs)) < c.s.cfg.K
}

// frameI appends an I-frame carrying asdu to out, acknowledging what we
// received.
func (c *iecConn) frameI(asdu []byte) {
	start := len(c.out)
	c.out = append(iec104.AppendI(c.out, c.vs, c.vr), asdu...)
	iec104.PatchLength(c.out[start:])
	c.sentAt[c.vs&c.sentMask] = time.Now()
	c.vs = (c.vs + 1) % iec104.SeqMod
	c.unacked = 0
}

// flushQueue sends queued ASDUs as far as the window allows.
func (c *iecConn) flushQueue() {
	for c.qLen > 0 && c.canSend() {
		c.frameI(c.qBuf[c.qHead])
		c.qHead = (c.qHead + 1) % iecQueueLen
		c.qLen--
	}
}

func (c *iecConn) sendS() {
	c.out = iec104.AppendS(c.out, c.vr)
	c.unacked = 0
}

// write sends out with a deadline: a peer that stops reading is closed
// after t1.
func (c *iecConn) write() {
	if len(c.out) == 0 || c.closeWhy != "" {
		return
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.s.cfg.T1)); err == nil {
		_, err = c.conn.Write(c.out)
		if err != nil && !errors.Is(err, net.ErrClosed) { // closed by the server: the reader ends the loop
			c.closeWhy = "write: " + err.Error()
		}
	}
}

// send writes what the station sends unasked (spontaneous data, queued
// frames, S-frames, TESTFR) and records it.
func (c *iecConn) send(op string, function byte) {
	if len(c.out) == 0 {
		return
	}
	x := exchange{proto: ProtoIEC104, op: op, function: function, station: c.s.cfg.CA, items: c.items, resp: c.out}
	c.p.recordExchange(c.clock, c.c, &x)
	c.write()
}

// timeouts runs the timers: t1 closes, t2 acknowledges, t3 tests, a
// selection expires.
func (c *iecConn) timeouts(now time.Time) {
	cfg := &c.s.cfg
	if c.vs != c.ack && now.Sub(c.sentAt[c.ack&c.sentMask]) >= cfg.T1 {
		c.closeWhy = fmt.Sprintf("t1 (%v) expired: I-frame %d not acknowledged", cfg.T1, c.ack)
		return
	}
	if !c.testAt.IsZero() && now.Sub(c.testAt) >= cfg.T1 {
		c.closeWhy = fmt.Sprintf("t1 (%v) expired: TESTFR not confirmed", cfg.T1)
		return
	}
	if c.sel.active && !now.Before(c.sel.until) {
		c.sel.active = false
	}
	due2 := c.unacked > 0 && now.Sub(c.recvAt) >= cfg.T2
	due3 := c.testAt.IsZero() && now.Sub(c.lastRx) >= cfg.T3
	if !due2 && !due3 {
		return
	}
	if c.quiet() {
		return
	}
	c.out, c.items = c.out[:0], c.items[:0]
	if due2 {
		c.sendS()
		c.send("ack", 0)
	}
	if due3 {
		c.out = iec104.AppendU(c.out[:0], iec104.TestFRAct)
		c.testAt = now
		c.send("testfr", 0)
	}
}

// nextDeadline is how long until the next timer is due.
func (c *iecConn) nextDeadline(now time.Time) time.Duration {
	cfg := &c.s.cfg
	d := cfg.T3 - now.Sub(c.lastRx)
	if !c.testAt.IsZero() {
		d = cfg.T1 - now.Sub(c.testAt)
	}
	if c.vs != c.ack {
		d = min(d, cfg.T1-now.Sub(c.sentAt[c.ack&c.sentMask]))
	}
	if c.unacked > 0 {
		d = min(d, cfg.T2-now.Sub(c.recvAt))
	}
	if c.sel.active {
		d = min(d, c.sel.until.Sub(now))
	}
	return max(d, time.Millisecond)
}

// readPoints copies every point's current value from the register image.
func (c *iecConn) readPoints() {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	c.clock = p.now
	for i := range c.s.pts {
		pt := &c.s.pts[i]
		if pt.Command() {
			continue
		}
		c.cur[i] = p.imageValue(pt.Tag)
	}
}

// spontaneous sends, after a scan, every point that changed (analog ones
// beyond their deadband) since this connection was last sent it.
func (c *iecConn) spontaneous() {
	if !c.started || c.stopping {
		return
	}
	if c.quiet() {
		return
	}
	c.readPoints()
	c.out, c.items = c.out[:0], c.items[:0]
	ts := c.s.now()
	var typ iec104.TypeID
	n := 0
	flush := func() {
		if n > 0 {
			c.asdu[1] = byte(n)
			c.sendI(c.asdu)
			n = 0
		}
	}
	for i := range c.s.pts {
		pt := &c.s.pts[i]
		if pt.Command() || !c.changed(i) {
			continue
		}
		t := pt.Type.WithTime()
		size := iec104.IOALen + t.ElementSize()
		if n > 0 && (t != typ || n == 127 || len(c.asdu)+size > iec104.MaxASDU) {
			flush()
		}
		if n == 0 {
			typ = t
			c.asdu = iec104.AppendHeader(c.asdu[:0], iec104.Header{Type: t, Cause: iec104.CauseSpontaneous, CA: c.s.cfg.CA})
		}
		c.asdu = c.appendObject(c.asdu, i, true, ts)
		n++
		c.sent[i] = c.cur[i]
		c.items = append(c.items, Item{Point: c.s.ioaText[i], Tag: c.p.model.Tags[pt.Tag].Name, Value: c.cur[i]})
	}
	flush()
	c.send("spontaneous", byte(typ))
}

// changed reports whether point i moved enough to be sent.
func (c *iecConn) changed(i int) bool {
	now, was := c.cur[i], c.sent[i]
	if c.s.pts[i].Type.ElementSize() == 1 { // single and double points
		return now != was
	}
	if math.IsNaN(now) != math.IsNaN(was) {
		return true
	}
	d := math.Abs(now - was)
	if db := c.s.dead[i]; db > 0 {
		return d >= db
	}
	return d > 0
}

// endOfInit sends M_EI_NA_1 once after the server starts, to the first
// connection that starts data transfer, as a station that has just come up.
func (c *iecConn) endOfInit() {
	if !c.s.seenEI.CompareAndSwap(false, true) {
		return
	}
	c.asdu = iec104.AppendHeader(c.asdu[:0], iec104.Header{Type: iec104.MEiNa1, Count: 1, Cause: iec104.CauseInit, CA: c.s.cfg.CA})
	c.asdu = append(iec104.AppendIOA(c.asdu, 0), iec104.COILocalPowerOn)
	c.sendI(c.asdu)
}
