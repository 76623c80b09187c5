package plantsim_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gopcua/opcua/ua"

	"github.com/icsrange/icsrange/internal/testtool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// The frames the PLC records of IEC 104 and OPC UA transactions rebuild
// into a capture that Wireshark dissects as those protocols, with no
// malformed packet: what the engine's pcap export will write for them.
func TestTsharkDissectsIEC104AndOPCUA(t *testing.T) {
	bin := testtool.Need(t, "tshark", "tshark")

	// IEC 104: start, interrogation, read, select and execute, a
	// set-point, clock synchronisation, a negative confirmation,
	// spontaneous data, a test frame and the stop.
	plc104, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	scan(plc104)
	c := dialIEC(t, addr)
	c.start(true)
	c.sendI(asdu(tCIcNa1, cAct, 1, 0, 20))
	c.reply() // actcon
	for m := c.reply(); m.cause != cActTerm; m = c.reply() {
	}
	lvl := ioaOf(t, plc104, plantsim.IOAInputFloat, "level")
	c.sendI(asdu(tCRdNa1, cReq, 1, lvl))
	c.reply()
	cmd := ioaOf(t, plc104, plantsim.IOASingleCmd, "pump2_run")
	c.sendI(asdu(tCScNa1, cAct, 1, cmd, 0x81))
	c.reply()
	c.sendI(asdu(tCScNa1, cAct, 1, cmd, 0x01))
	c.reply()
	c.reply()
	c.sendI(asdu(tCDcNa1, cAct, 1, ioaOf(t, plc104, plantsim.IOADoubleCmd, "pump1_run"), 0x01))
	c.reply()
	c.reply()
	c.sendI(asdu(tCSeNc1, cAct, 1, ioaOf(t, plc104, plantsim.IOASetFloat, "level_sp"), floatElem(6, 0)...))
	c.reply()
	c.sendI(asdu(tCSeNb1, cAct, 1, ioaOf(t, plc104, plantsim.IOASetScaled, "level_sp"), 0x70, 0x17, 0))
	c.reply()
	c.sendI(asdu(tCCsNa1, cAct, 1, 0, appendCP56(nil, time.Now().UTC())...))
	c.reply()
	c.sendI(asdu(tCScNa1, cAct, 1, 6999, 1))
	c.reply()
	spoof(t, plc104, "level", 9.5)
	spoof(t, plc104, "level_h", 1)
	scan(plc104)
	for m := c.nextASDU(); m.typ != tMSpTb1; m = c.nextASDU() {
	}
	c.sendU(0x43)
	c.untilU(0x83)
	c.sendS()
	c.sendU(0x13)
	c.untilU(0x23)

	// OPC UA, in the clear and encrypted: discovery, sessions, browse,
	// read, write (allowed and refused), a subscription's publish.
	plcUA := plctestWaterTank(t)
	_, url := startOPCUA(t, plcUA, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secNone, secEncrypt}, Users: uaUsers})
	ua1 := mustDialUA(t, url, secNone, uaAuth{})
	uaBrowse(t, ua1, plcUA)
	readUA(t, ua1, "ns=1;s=level", ua.AttributeIDValue)
	writeUA(t, ua1, "ns=1;s=level_sp", float32(5))
	uaSubscribe(t, ua1, plcUA)
	ua2 := mustDialUA(t, url, secEncrypt, uaAuth{"eng", "s3cret-eng"})
	writeUA(t, ua2, "ns=1;s=level_sp", float32(5.5))

	file := filepath.Join(t.TempDir(), "protocols.pcap")
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	writeStreams(t, file, plc104.Capture(0).Transactions, 2404, &clock)
	appendStreams(t, file, plcUA.Capture(0).Transactions, 4840, &clock)

	out := testtool.Tshark(t, bin, "-r", file, "-V") + testtool.Tshark(t, bin, "-r", file)
	for _, want := range []string{"IEC 60870-5-104", "C_IC_NA_1", "C_SC_NA_1", "C_DC_NA_1", "C_SE_NC_1", "C_SE_NB_1",
		"C_CS_NA_1", "M_ME_NC_1", "M_SP_TB_1", "M_EI_NA_1", "OpcUa Binary Protocol", "Hello message", "ReadRequest", "WriteRequest",
		"PublishResponse", "BrowseRequest"} {
		if !strings.Contains(out, want) {
			t.Errorf("tshark does not show %q", want)
		}
	}
	if bad := testtool.Tshark(t, bin, "-r", file, "-Y", "_ws.malformed || _ws.expert.severity >= error"); strings.TrimSpace(bad) != "" {
		t.Fatalf("malformed packets:\n%s", bad)
	}
	n104 := strings.Count(testtool.Tshark(t, bin, "-r", file, "-Y", "iec60870_104"), "\n")
	nUA := strings.Count(testtool.Tshark(t, bin, "-r", file, "-Y", "opcua"), "\n")
	if n104 < 20 || nUA < 20 {
		t.Fatalf("%d IEC 104 and %d OPC UA packets", n104, nUA)
	}
}

// tcpStream is one connection of the capture being written.
type tcpStream struct {
	client, server netip.AddrPort
	cSeq, sSeq     uint32
}

func writeStreams(t *testing.T, file string, txs []plantsim.Transaction, port uint16, clock *time.Time) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	streams(t, w, txs, port, clock)
}

func appendStreams(t *testing.T, file string, txs []plantsim.Transaction, port uint16, clock *time.Time) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	streams(t, pcapgo.NewWriter(f), txs, port, clock)
}

// streams writes each connection's transactions as a TCP stream to port:
// handshake, the request from the client, the response from the server
// (either may be empty: what the station sends unasked has no request),
// then the close.
func streams(t *testing.T, w *pcapgo.Writer, txs []plantsim.Transaction, port uint16, clock *time.Time) {
	t.Helper()
	byConn := map[uint64]*tcpStream{}
	var order []*tcpStream
	buf := gopacket.NewSerializeBuffer()
	send := func(s *tcpStream, fromClient bool, flags string, payload []byte) {
		src, dst, seq, ack := s.client, s.server, &s.cSeq, s.sSeq
		if !fromClient {
			src, dst, seq, ack = s.server, s.client, &s.sSeq, s.cSeq
		}
		*clock = clock.Add(time.Millisecond)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(src.Port())}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(dst.Port())},
			EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: *seq, Ack: ack,
			SYN: strings.Contains(flags, "S"), FIN: strings.Contains(flags, "F"), PSH: len(payload) > 0,
			ACK: !(flags == "S" && fromClient), Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: *clock, CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
		*seq += uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			*seq++
		}
	}
	for _, tx := range txs {
		s := byConn[tx.Conn]
		if s == nil {
			src, err := netip.ParseAddrPort(tx.Source)
			if err != nil {
				t.Fatal(err)
			}
			s = &tcpStream{client: src, server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, 0, 100}), port),
				cSeq: uint32(tx.Conn) * 1000, sSeq: uint32(tx.Conn)*1000 + 500000}
			byConn[tx.Conn] = s
			order = append(order, s)
			send(s, true, "S", nil)
			send(s, false, "SA", nil)
			send(s, true, "A", nil)
		}
		if len(tx.Request) > 0 {
			send(s, true, "A", tx.Request)
		}
		if len(tx.Response) > 0 && !tx.NoReply {
			send(s, false, "A", tx.Response)
		}
	}
	for _, s := range order {
		send(s, true, "FA", nil)
		send(s, false, "FA", nil)
		send(s, true, "A", nil)
	}
	if len(order) == 0 {
		t.Fatal("no transactions to write")
	}
}
