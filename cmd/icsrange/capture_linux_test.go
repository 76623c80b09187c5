package main

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

// freePort is a TCP port nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// icsrange plc --capture: the packet socket opened, then every capability
// dropped; the Modbus packets served at GET /v1/packets.
func TestPLCCapture(t *testing.T) {
	if c, err := netsetup.Current(); err != nil || c.Effective&(1<<unix.CAP_NET_RAW) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs as root: want CAP_NET_RAW (%+v, %v)", c, err)
		}
		t.Skip("needs CAP_NET_RAW (root) to open a packet socket")
	}
	file, tok := tokenFile(t)
	modbusAddr, mgmtAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	cmd, first, sc := startBinary(t, nil, "plc", "--model", "water-tank", "--listen", modbusAddr, "--mgmt", mgmtAddr,
		"--token-file", file, "--capture", "--capture-packets", "100")
	if !strings.HasPrefix(first, "plc water-tank") || !sc.Scan() ||
		sc.Text() != "capture: tcp port "+modbusAddr[len("127.0.0.1:"):]+" on every interface, ring of 100 packets or 8 MiB" ||
		!sc.Scan() || sc.Text() != "capabilities dropped (bounding set too)" {
		t.Fatalf("output %q, then %q", first, sc.Text())
	}
	caps := procCaps(t, cmd.Process.Pid)
	for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"} {
		if caps[k] != "0000000000000000" {
			t.Errorf("%s = %s", k, caps[k])
		}
	}

	ctx := context.Background()
	c, err := modbus.Dial(ctx, modbusAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteRegister(1, 1, 4321); err != nil {
		t.Fatal(err)
	}
	c.Close()
	mc := plantsim.NewMgmtClient(mgmtAddr, tok)
	var page capture.Page
	for deadline := time.Now().Add(10 * time.Second); ; {
		if page, err = mc.Packets(ctx, 0, 0); err != nil {
			t.Fatal(err)
		}
		if len(page.Packets) >= 8 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	write := false
	for _, p := range page.Packets {
		// The request's PDU ends the frame: FC 6, register 1, 4321.
		d := p.Data
		write = write || (len(d) > 5 && d[len(d)-5] == 6 && d[len(d)-3] == 1 && d[len(d)-2] == 4321>>8 && d[len(d)-1] == 4321&0xff)
	}
	if !write || page.LinkType != capture.LinkTypeEthernet || page.Packets[0].Seq != 1 {
		t.Fatalf("no write of 4321 among %d captured packets: %+v", len(page.Packets), page)
	}
	if p2, err := mc.Packets(ctx, page.Next, 1); err != nil || p2.Next < page.Next {
		t.Fatalf("the next page: %+v %v", p2, err)
	}
	if code, rest := stop(t, cmd, sc); code != 0 || !strings.Contains(rest, "stopped") {
		t.Fatalf("exit %d: %s", code, rest)
	}
}

// Without CAP_NET_RAW, --capture fails at once and says so.
func TestPLCCaptureNeedsCapNetRaw(t *testing.T) {
	type result struct {
		stderr string
		code   int
	}
	done := make(chan result, 1)
	listen := "127.0.0.1:" + freePort(t)
	go func() {
		// Capabilities are per thread: drop CAP_NET_RAW on this one,
		// where the command opens its socket, and never unlock it, so the
		// runtime ends the thread with the goroutine.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err == nil {
			data[0].Effective &^= 1 << unix.CAP_NET_RAW
			unix.Capset(&hdr, &data[0])
		}
		_, stderr, code := run(t, "plc", "--model", "water-tank", "--listen", listen, "--mgmt", "127.0.0.1:0", "--capture")
		done <- result{stderr, code}
	}()
	r := <-done
	if r.code != 1 || !strings.Contains(r.stderr, "--capture: open packet socket: needs CAP_NET_RAW") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, stderr, code := run(t, "plc", "--model", "water-tank", "--listen", "127.0.0.1:0", "--capture"); code != 2 || !strings.Contains(stderr, "fixed port") {
		t.Fatalf("--capture with port 0: exit %d: %s", code, stderr)
	}
}
