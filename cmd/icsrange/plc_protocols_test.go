package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	gopcua "github.com/gopcua/opcua"
)

// icsrange plc --iec104 --opcua serves the PLC over all three protocols,
// with --frame-timeout for all three.
func TestPLCProtocols(t *testing.T) {
	cmd, first, sc := startBinary(t, nil, "plc", "--model", "breaker", "--listen", "127.0.0.1:0", "--mgmt", "127.0.0.1:0",
		"--iec104", "127.0.0.1:0", "--iec104-ca", "7", "--opcua", "127.0.0.1:0", "--opcua-security", "none,basic256sha256",
		"--opcua-user", "operator=alice:pw", "--opcua-anonymous-write", "--frame-timeout", "1s")
	if !strings.HasPrefix(first, "plc breaker") {
		t.Fatalf("first line %q", first)
	}
	addrs := map[string]string{}
	for len(addrs) < 2 && sc.Scan() {
		k, v, _ := strings.Cut(strings.Fields(sc.Text())[0], "=")
		addrs[k] = v
	}
	// IEC 104: STARTDT act is confirmed.
	c, err := net.DialTimeout("tcp", addrs["iec104"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{0x68, 4, 0x07, 0, 0, 0})
	con := make([]byte, 6)
	if _, err := io.ReadFull(c, con); err != nil || con[2] != 0x0B {
		t.Fatalf("STARTDT con % x %v", con, err)
	}
	// OPC UA: the three endpoints, with both identities.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eps, err := gopcua.GetEndpoints(ctx, addrs["opcua"])
	if err != nil || len(eps) != 3 {
		t.Fatalf("endpoints %v %v", eps, err)
	}
	for _, ep := range eps {
		if len(ep.UserIdentityTokens) != 2 || len(ep.ServerCertificate) == 0 {
			t.Fatalf("endpoint %s/%v: tokens %v, certificate %d bytes", ep.SecurityPolicyURI, ep.SecurityMode, ep.UserIdentityTokens, len(ep.ServerCertificate))
		}
	}
	// A frame begun and left unfinished closes its connection after the
	// frame timeout, on both.
	for proto, part := range map[string][]byte{"iec104": {0x68, 4, 0x07}, "opcua": []byte("HELF")} {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(addrs[proto], "opc.tcp://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write(part)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Read(make([]byte, 16))
		if el := time.Since(start); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) || el < time.Second {
			t.Fatalf("%s: read %v after %v of a partial frame; want the connection closed after 1s", proto, err, el)
		}
	}
	if code, rest := stop(t, cmd, sc); code != 0 || !strings.Contains(rest, "stopped") {
		t.Fatalf("exit %d: %s", code, rest)
	}
}

func TestPLCProtocolFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--iec104-ca", "7"},
		{"--iec104", "127.0.0.1:0", "--iec104-ca", "65535"},
		{"--opcua-user", "alice:pw"},
		{"--opcua", "127.0.0.1:0", "--opcua-security", "aes128"},
		{"--opcua", "127.0.0.1:0", "--opcua-no-anonymous", "--opcua-anonymous-write"},
		{"--opcua", "127.0.0.1:0", "--opcua-cert", "x.pem"},
	} {
		_, stderr, code := run(t, append([]string{"plc", "--model", "breaker", "--listen", "127.0.0.1:0", "--mgmt", "127.0.0.1:0"}, args...)...)
		if code == 0 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// --print-map shows each tag's IEC 104 points and OPC UA node, in text and
// JSON.
func TestPrintMapProtocols(t *testing.T) {
	out, _, code := run(t, "plc", "--model", "breaker", "--print-map")
	if code != 0 || !strings.Contains(out, "7001 C_DC_NA_1 (off: open_cmd)") || !strings.Contains(out, "ns=1;s=close_cmd") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, _ = run(t, "plc", "--model", "breaker", "--print-map", "--map-format", "json")
	var doc struct {
		Registers []struct {
			Tag    string `json:"tag"`
			OPCUA  string `json:"opcua_node"`
			IEC104 []struct {
				IOA  int    `json:"ioa"`
				Type string `json:"type"`
				Off  string `json:"off"`
			} `json:"iec104"`
		} `json:"registers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Registers {
		if r.Tag == "close_cmd" {
			if r.OPCUA != "ns=1;s=close_cmd" || len(r.IEC104) != 3 || r.IEC104[2].IOA != 7001 || r.IEC104[2].Off != "open_cmd" {
				t.Fatalf("close_cmd %+v", r)
			}
			return
		}
	}
	t.Fatal("no close_cmd in the JSON map")
}
