package plantsim_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"log"
	"math"
	"math/big"
	"net"
	"testing"
	"time"

	smodbus "github.com/simonvetter/modbus"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates carrying Modbus/TCP Security roles.
type testPKI struct {
	pool    *x509.CertPool
	server  tls.Certificate
	clients map[string]tls.Certificate // by role; "" = no role extension
	foreign tls.Certificate            // "engineer", signed by another CA
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key}
}

var serial int64 = 100

func (ca testCA) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// roleExtension is the Modbus/TCP Security role extension: an ASN.1
// UTF8String under plantsim.RoleOID.
func roleExtension(t *testing.T, role string) pkix.Extension {
	t.Helper()
	v, err := asn1.MarshalWithParams(role, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != asn1.TagUTF8String {
		t.Fatalf("role encoded with tag %d, want UTF8String", v[0])
	}
	return pkix.Extension{Id: plantsim.RoleOID, Value: v}
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := newTestCA(t, "icsrange test CA")
	p := &testPKI{pool: x509.NewCertPool(), clients: map[string]tls.Certificate{}}
	p.pool.AddCert(ca.cert)
	p.server = ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "plc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	client := func(ca testCA, role string, withExt bool) tls.Certificate {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "client " + role},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if withExt {
			tmpl.ExtraExtensions = []pkix.Extension{roleExtension(t, role)}
		}
		return ca.issue(t, tmpl)
	}
	for _, role := range []string{"operator", "engineer", "superuser"} {
		p.clients[role] = client(ca, role, true)
	}
	p.clients[""] = client(ca, "", false)
	p.foreign = client(newTestCA(t, "someone else's CA"), "engineer", true)
	return p
}

// startSecurePLC serves a water-tank PLC over Modbus/TCP Security.
func startSecurePLC(t *testing.T, p *testPKI) (*plantsim.PLC, string) {
	t.Helper()
	return startPLC(t, plantsim.ServerConfig{TLS: &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}})
}

// dialSecure connects with a client certificate (none if cert is nil).
func dialSecure(t *testing.T, addr string, p *testPKI, cert *tls.Certificate) (*modbus.Client, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c := modbus.NewClient(conn)
	c.Timeout = ioTimeout
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func TestModbusSecurityRoles(t *testing.T) {
	pki := newTestPKI(t)
	plc, addr := startSecurePLC(t, pki)
	val := func(v float64) *float64 { return &v }

	dial := func(t *testing.T, role string) *modbus.Client {
		t.Helper()
		cert := pki.clients[role]
		c, err := dialSecure(t, addr, pki, &cert)
		if err != nil {
			t.Fatalf("dial as %q: %v", role, err)
		}
		return c
	}
	// reset puts every tag we write back to its initial value through the
	// management API, so each role starts from the same PLC memory.
	reset := func(t *testing.T) {
		t.Helper()
		for tag, v := range map[string]float64{"level_sp": 2.5, "inlet_manual": 25, "alarm_hh": 3.6, "kp": 400, "auto": 1, "pump1_run": 1, "bypass": 0} {
			if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: tag, Value: val(v)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sp, spAddr, spFloat := tagDef(t, plc, "level_sp")
	mv, mvAddr, _ := tagDef(t, plc, "inlet_manual")
	hh, hhAddr, hhFloat := tagDef(t, plc, "alarm_hh")
	kp, kpAddr, _ := tagDef(t, plc, "kp")
	_, autoAddr, _ := tagDef(t, plc, "auto")
	_, pumpAddr, _ := tagDef(t, plc, "pump1_run")
	_, bypassAddr, _ := tagDef(t, plc, "bypass")

	type write struct {
		do   func(c *modbus.Client) error
		tag  string  // the tag the write changes
		want float64 // its value once latched
	}
	writes := map[string]write{
		"FC6 level_sp (setpoint)": {func(c *modbus.Client) error { return c.WriteRegister(1, spAddr, sp.Scale(3)) }, "level_sp", 3},
		"FC16 inlet_manual (setpoint)": {func(c *modbus.Client) error {
			return c.WriteRegisters(1, mvAddr, []uint16{mv.Scale(40)})
		}, "inlet_manual", 40},
		"FC5 auto (mode)":             {func(c *modbus.Client) error { return c.WriteCoil(1, autoAddr, false) }, "auto", 0},
		"FC15 pump1_run (command)":    {func(c *modbus.Client) error { return c.WriteCoils(1, pumpAddr, []bool{false}) }, "pump1_run", 0},
		"FC6 alarm_hh (limit)":        {func(c *modbus.Client) error { return c.WriteRegister(1, hhAddr, hh.Scale(3.9)) }, "alarm_hh", 3.9},
		"FC16 alarm_hh float (limit)": {func(c *modbus.Client) error { return c.WriteFloat32(1, hhFloat, 3.9) }, "alarm_hh", 3.9},
		"FC6 kp (tuning)":             {func(c *modbus.Client) error { return c.WriteRegister(1, kpAddr, kp.Scale(1000)) }, "kp", 1000},
		"FC5 bypass (bypass)":         {func(c *modbus.Client) error { return c.WriteCoil(1, bypassAddr, true) }, "bypass", 1},
		"FC23 write kp (tuning)": {func(c *modbus.Client) error {
			r := kp.Scale(1000)
			_, err := c.Do(1, []byte{0x17, 0, 0, 0, 1, 0, byte(kpAddr), 0, 1, 2, byte(r >> 8), byte(r)})
			return err
		}, "kp", 1000},
		"FC16 level_sp float (setpoint)": {func(c *modbus.Client) error { return c.WriteFloat32(1, spFloat, 3) }, "level_sp", 3},
	}
	allowed := map[string][]string{
		"operator": {"FC6 level_sp (setpoint)", "FC16 inlet_manual (setpoint)", "FC5 auto (mode)", "FC15 pump1_run (command)", "FC16 level_sp float (setpoint)"},
		"engineer": nil, // everything
	}

	for _, role := range []string{"operator", "engineer", "", "superuser"} {
		name := role
		if name == "" {
			name = "no role"
		}
		t.Run(name, func(t *testing.T) {
			c := dial(t, role)
			// Every role reads.
			if _, err := c.ReadHoldingRegisters(1, 0, 8); err != nil {
				t.Fatalf("read holding registers: %v", err)
			}
			if _, err := c.ReadInputRegisters(1, plantsim.DiagBase, 8); err != nil {
				t.Fatalf("read input registers: %v", err)
			}
			if _, err := c.ReadCoils(1, 0, 5); err != nil {
				t.Fatalf("read coils: %v", err)
			}
			if id, err := c.ReadDeviceID(1); err != nil || id[modbus.ObjVendorName] != "icsrange" {
				t.Fatalf("device id: %q %v", id, err)
			}
			may := map[string]bool{}
			for _, w := range allowed[role] {
				may[w] = true
			}
			for wname, w := range writes {
				reset(t)
				before := tagValue(t, plc, w.tag).Truth
				err := w.do(c)
				scan(plc)
				after := tagValue(t, plc, w.tag).Truth
				ok := role == "engineer" || may[wname]
				if ok {
					if err != nil {
						t.Errorf("%s: %v", wname, err)
					} else if def, _, _ := tagDef(t, plc, w.tag); math.Abs(after-w.want) > (def.Max-def.Min)/65535+1e-9 {
						t.Errorf("%s: %s = %v after the write, want %v", wname, w.tag, after, w.want)
					}
					continue
				}
				if !errors.Is(err, modbus.ExIllegalFunction) {
					t.Errorf("%s: %v, want exception 01", wname, err)
				}
				if after != before {
					t.Errorf("%s: denied, yet %s changed from %v to %v", wname, w.tag, before, after)
				}
			}
			// The connection survives denials.
			if _, err := c.ReadHoldingRegisters(1, 0, 1); err != nil {
				t.Fatalf("read after the writes: %v", err)
			}
		})
	}

	// A multi-register write is all or nothing: an operator writing
	// level_sp, inlet_manual and alarm_ll together writes none of them.
	t.Run("operator mixed FC16", func(t *testing.T) {
		reset(t)
		c := dial(t, "operator")
		err := c.WriteRegisters(1, spAddr, []uint16{sp.Scale(3), mv.Scale(40), 0})
		if !errors.Is(err, modbus.ExIllegalFunction) {
			t.Fatalf("FC16 over setpoints and a limit: %v, want exception 01", err)
		}
		scan(plc)
		if v := tagValue(t, plc, "level_sp").Truth; v != 2.5 {
			t.Fatalf("level_sp = %v after a denied FC16", v)
		}
		if err := c.WriteCoils(1, autoAddr, []bool{true, true, false, true}); !errors.Is(err, modbus.ExIllegalFunction) {
			t.Fatalf("FC15 over auto..bypass: %v, want exception 01", err)
		}
	})

	// The peer library's TLS client gets the same answers.
	t.Run("peer operator", func(t *testing.T) {
		reset(t)
		cert := pki.clients["operator"]
		c, err := smodbus.NewClient(&smodbus.ClientConfiguration{
			URL: "tcp+tls://" + addr, Timeout: ioTimeout, TLSClientCert: &cert, TLSRootCAs: pki.pool,
			Logger: log.New(io.Discard, "", 0),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Open(); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteRegister(spAddr, sp.Scale(3)); err != nil {
			t.Fatalf("setpoint: %v", err)
		}
		if err := c.WriteRegister(hhAddr, hh.Scale(3.9)); !errors.Is(err, smodbus.ErrIllegalFunction) {
			t.Fatalf("limit: %v, want illegal function", err)
		}
		if err := c.WriteCoil(bypassAddr, true); !errors.Is(err, smodbus.ErrIllegalFunction) {
			t.Fatalf("bypass: %v, want illegal function", err)
		}
	})
}

// Without a certificate from the PLC's CA there is no session at all.
func TestModbusSecurityRejectsUntrustedClients(t *testing.T) {
	pki := newTestPKI(t)
	plc, addr := startSecurePLC(t, pki)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"no certificate", nil},
		{"certificate from another CA", &pki.foreign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialSecure(t, addr, pki, tc.cert)
			if err == nil {
				// With TLS 1.3 the client finishes its side of the handshake
				// before the server checks the certificate; the failure
				// shows on the first exchange.
				if err = c.WriteRegister(1, 0, 0); err == nil {
					t.Fatal("write answered without a trusted client certificate")
				}
			}
			t.Logf("refused: %v", err)
		})
	}
	// A plain Modbus/TCP client gets nothing from the secure port.
	c := ourClient(t, addr)
	if _, err := c.ReadHoldingRegisters(1, 0, 1); err == nil {
		t.Fatal("plain Modbus/TCP answered on the TLS port")
	}
	scan(plc)
	if v := tagValue(t, plc, "level_sp").Truth; v != 2.5 {
		t.Fatalf("level_sp = %v: an untrusted client wrote", v)
	}
}

// A server that makes client certificates optional still lets a client
// without one only read.
func TestModbusSecurityOptionalCertificateReadsOnly(t *testing.T) {
	pki := newTestPKI(t)
	plc, addr := startPLC(t, plantsim.ServerConfig{TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}})
	c, err := dialSecure(t, addr, pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadHoldingRegisters(1, 0, 8); err != nil {
		t.Fatalf("read without a certificate: %v", err)
	}
	sp, spAddr, _ := tagDef(t, plc, "level_sp")
	if err := c.WriteRegister(1, spAddr, sp.Scale(3)); !errors.Is(err, modbus.ExIllegalFunction) {
		t.Fatalf("write without a certificate: %v, want exception 01", err)
	}
	engineer := pki.clients["engineer"]
	ce, err := dialSecure(t, addr, pki, &engineer)
	if err != nil {
		t.Fatal(err)
	}
	if err := ce.WriteRegister(1, spAddr, sp.Scale(3)); err != nil {
		t.Fatalf("engineer write: %v", err)
	}
}
