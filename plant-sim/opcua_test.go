package plantsim_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/opcua"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// The OPC UA server checked with github.com/gopcua/opcua's client, which
// shares no code with the server's services or its secure channel (we
// both use gopcua's ua encoding and uapolicy cryptography), and with raw
// frames for the transport's error paths (opcua_raw_test.go).

// uaCerts are the test's certificates, made once: RSA key generation is
// the slow part of a secure connection.
var uaCerts = sync.OnceValue(func() (c struct {
	server, client []byte
	serverKey      *rsa.PrivateKey
	clientKey      *rsa.PrivateKey
}) {
	var err error
	if c.server, c.serverKey, err = opcua.SelfSigned(plantsim.OPCUAApplicationURI("water-tank"), "127.0.0.1", "localhost"); err != nil {
		panic(err)
	}
	if c.client, c.clientKey, err = opcua.SelfSigned("urn:icsrange:test:client", "localhost"); err != nil {
		panic(err)
	}
	return c
})

var (
	secNone    = plantsim.OPCUASecurity{Policy: opcua.PolicyNone, Mode: ua.MessageSecurityModeNone}
	secSign    = plantsim.OPCUASecurity{Policy: opcua.PolicyBasic256Sha256, Mode: ua.MessageSecurityModeSign}
	secEncrypt = plantsim.OPCUASecurity{Policy: opcua.PolicyBasic256Sha256, Mode: ua.MessageSecurityModeSignAndEncrypt}
)

// startOPCUA serves plc over OPC UA on 127.0.0.1:0 until the test ends and
// returns the endpoint URL. A secure policy gets the test's certificate.
func startOPCUA(t testing.TB, plc *plantsim.PLC, cfg plantsim.OPCUAConfig) (*plantsim.OPCUAServer, string) {
	t.Helper()
	for _, s := range cfg.Security {
		if s.Policy != opcua.PolicyNone && cfg.Certificate == nil {
			cfg.Certificate, cfg.Key = uaCerts().server, uaCerts().serverKey
		}
	}
	return plctest.ServeOPCUA(t, plc, cfg)
}

// uaAuth is who a test client is.
type uaAuth struct {
	user, password string // empty: anonymous
}

// dialUA connects the gopcua client to url with a security policy and
// mode and an identity, as its documentation does: discover the endpoints,
// pick one, connect with its parameters.
func dialUA(t testing.TB, url string, sec plantsim.OPCUASecurity, auth uaAuth) (*gopcua.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	eps, err := gopcua.GetEndpoints(ctx, url)
	if err != nil {
		return nil, err
	}
	ep, err := gopcua.SelectEndpoint(eps, sec.Policy, sec.Mode)
	if err != nil {
		return nil, err
	}
	tokenType := ua.UserTokenTypeAnonymous
	opts := []gopcua.Option{gopcua.AutoReconnect(false), gopcua.RequestTimeout(ioTimeout)}
	if auth.user != "" {
		tokenType = ua.UserTokenTypeUserName
		opts = append(opts, gopcua.AuthUsername(auth.user, auth.password))
	}
	opts = append(opts, gopcua.SecurityFromEndpoint(ep, tokenType))
	if sec.Policy != opcua.PolicyNone {
		opts = append(opts, gopcua.Certificate(uaCerts().client), gopcua.PrivateKey(uaCerts().clientKey))
	}
	c, err := gopcua.NewClient(ep.EndpointURL, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, nil
}

func mustDialUA(t testing.TB, url string, sec plantsim.OPCUASecurity, auth uaAuth) *gopcua.Client {
	t.Helper()
	c, err := dialUA(t, url, sec, auth)
	if err != nil {
		t.Fatalf("connect over %v as %+v: %v", sec, auth, err)
	}
	return c
}

func uaCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readUA reads one attribute.
func readUA(t testing.TB, c *gopcua.Client, node string, attr ua.AttributeID) *ua.DataValue {
	t.Helper()
	resp, err := c.Read(uaCtx(t), &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth,
		NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID(node), AttributeID: attr}}})
	if err != nil {
		t.Fatalf("read %s: %v", node, err)
	}
	return resp.Results[0]
}

// writeUA writes one value and returns its status.
func writeUA(t testing.TB, c *gopcua.Client, node string, v any) ua.StatusCode {
	t.Helper()
	resp, err := c.Write(uaCtx(t), &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{NodeID: ua.MustParseNodeID(node),
		AttributeID: ua.AttributeIDValue, Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)}}}})
	if err != nil {
		t.Fatalf("write %s: %v", node, err)
	}
	return resp.Results[0]
}

var uaUsers = []plantsim.OPCUAUser{
	{Name: "eng", Password: "s3cret-eng", Role: plantsim.RoleEngineer},
	{Name: "op", Password: "s3cret-op", Role: plantsim.RoleOperator},
}

// Browse, read, write (allowed and denied) and subscribe, for every
// security policy and mode and both identities.
func TestOPCUAClient(t *testing.T) {
	plc := plctestWaterTank(t)
	scan(plc)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secNone, secSign, secEncrypt}, Users: uaUsers})
	for _, sec := range []plantsim.OPCUASecurity{secNone, secSign, secEncrypt} {
		for _, auth := range []uaAuth{{}, {"eng", "s3cret-eng"}} {
			name := sec.String() + "/anonymous"
			if auth.user != "" {
				name = sec.String() + "/" + auth.user
			}
			t.Run(name, func(t *testing.T) {
				c := mustDialUA(t, url, sec, auth)
				uaBrowse(t, c, plc)
				uaRead(t, c, plc)
				uaWrite(t, c, plc, auth.user != "")
				uaSubscribe(t, c, plc)
			})
		}
	}
}

// uaBrowse walks Objects/<plc>/<tag> and checks it against the map.
func uaBrowse(t *testing.T, c *gopcua.Client, plc *plantsim.PLC) {
	ctx := uaCtx(t)
	refs, err := c.Node(ua.NewNumericNodeID(0, id.ObjectsFolder)).References(ctx, id.HierarchicalReferences,
		ua.BrowseDirectionForward, ua.NodeClassAll, true)
	if err != nil {
		t.Fatal(err)
	}
	var plcNode *ua.ReferenceDescription
	for _, r := range refs {
		if r.BrowseName.Name == plc.ID() && r.BrowseName.NamespaceIndex == 1 {
			plcNode = r
		}
	}
	if plcNode == nil {
		t.Fatalf("Objects has no %s: %v", plc.ID(), refs)
	}
	tags, err := c.NodeFromExpandedNodeID(plcNode.NodeID).References(ctx, id.HasComponent, ua.BrowseDirectionForward, ua.NodeClassVariable, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*ua.ReferenceDescription{}
	for _, r := range tags {
		got[r.NodeID.NodeID.String()] = r
	}
	for _, e := range plc.Model().Map() {
		r := got[e.OPCUA]
		if r == nil {
			t.Fatalf("%s (%s) is not under Objects/%s", e.OPCUA, e.Tag, plc.ID())
		}
		if e.Class == "diagnostic" {
			continue
		}
		want := uint32(id.BaseDataVariableType)
		if e.Float >= 0 {
			want = id.AnalogItemType
		}
		if r.TypeDefinition.NodeID.IntID() != want || r.BrowseName.Name != e.Tag {
			t.Fatalf("%s: browse name %v, type definition %v", e.Tag, r.BrowseName, r.TypeDefinition)
		}
	}
	// The analog items' properties.
	props, err := c.Node(ua.MustParseNodeID("ns=1;s=level")).References(ctx, id.HasProperty, ua.BrowseDirectionForward, ua.NodeClassAll, false)
	if err != nil || len(props) != 2 {
		t.Fatalf("level's properties: %v %v", props, err)
	}
	// A path through the hierarchy, as clients resolve names.
	nid, err := c.Node(ua.NewNumericNodeID(0, id.ObjectsFolder)).TranslateBrowsePathInNamespaceToNodeID(ctx, 1, plc.ID()+".level_sp")
	if err != nil || nid.String() != "ns=1;s=level_sp" {
		t.Fatalf("translate %s.level_sp: %v %v", plc.ID(), nid, err)
	}
}

// uaRead reads values, data types, access levels and the EU properties.
func uaRead(t *testing.T, c *gopcua.Client, plc *plantsim.PLC) {
	dv := readUA(t, c, "ns=1;s=level", ua.AttributeIDValue)
	if dv.Status != ua.StatusOK || dv.Value.Value() != float32(tagValue(t, plc, "level").Reported) {
		t.Fatalf("level read %v %v, PLC reports %g", dv.Value, dv.Status, tagValue(t, plc, "level").Reported)
	}
	if dv.SourceTimestamp.IsZero() || dv.ServerTimestamp.IsZero() {
		t.Fatal("no timestamps on a value read with both asked for")
	}
	if v := readUA(t, c, "ns=1;s=auto", ua.AttributeIDValue).Value.Value(); v != true {
		t.Fatalf("auto read %v", v)
	}
	for node, want := range map[string]uint32{"ns=1;s=level": id.Float, "ns=1;s=auto": id.Boolean, "ns=1;s=diag.logic_checksum": id.UInt32} {
		if dt := readUA(t, c, node, ua.AttributeIDDataType).Value.Value().(*ua.NodeID); dt.IntID() != want {
			t.Fatalf("%s data type %v, want i=%d", node, dt, want)
		}
	}
	for node, want := range map[string]byte{"ns=1;s=level": 1, "ns=1;s=level_h": 1, "ns=1;s=level_sp": 3, "ns=1;s=pump1_run": 3} {
		if al := readUA(t, c, node, ua.AttributeIDAccessLevel).Value.Value().(byte); al != want {
			t.Fatalf("%s AccessLevel %d, want %d (writable exactly where Modbus writes)", node, al, want)
		}
	}
	rng := readUA(t, c, "ns=1;s=level.EURange", ua.AttributeIDValue).Value.Value().(*ua.ExtensionObject).Value.(*ua.Range)
	if rng.Low != 0 || rng.High != 10 {
		t.Fatalf("level EURange %+v", rng)
	}
	eu := readUA(t, c, "ns=1;s=level.EngineeringUnits", ua.AttributeIDValue).Value.Value().(*ua.ExtensionObject).Value.(*ua.EUInformation)
	if eu.DisplayName.Text != "m" || eu.UnitID != 'M'<<16|'T'<<8|'R' {
		t.Fatalf("level EngineeringUnits %+v", eu)
	}
	if cs := readUA(t, c, "ns=1;s=diag.logic_checksum", ua.AttributeIDValue).Value.Value(); cs != plc.Model().Checksum(0) {
		t.Fatalf("logic checksum %v, want %08X", cs, plc.Model().Checksum(0))
	}
	if dv := readUA(t, c, "ns=1;s=nosuch", ua.AttributeIDValue); dv.Status != ua.StatusBadNodeIDUnknown {
		t.Fatalf("unknown node read %v", dv.Status)
	}
	ns, err := c.NamespaceArray(uaCtx(t))
	if err != nil || len(ns) != 2 || ns[1] != plantsim.OPCUAApplicationURI(plc.ID()) {
		t.Fatalf("namespace array %v %v", ns, err)
	}
}

// uaWrite writes a setpoint (allowed to an engineer, denied to anonymous),
// an input (denied to all), a value of the wrong type.
func uaWrite(t *testing.T, c *gopcua.Client, plc *plantsim.PLC, mayWrite bool) {
	want := ua.StatusBadUserAccessDenied
	if mayWrite {
		want = ua.StatusOK
	}
	before := tagValue(t, plc, "level_sp").Truth
	target := float32(before) + 0.5
	if st := writeUA(t, c, "ns=1;s=level_sp", target); st != want {
		t.Fatalf("write level_sp: %v, want %v", st, want)
	}
	if al := readUA(t, c, "ns=1;s=level_sp", ua.AttributeIDUserAccessLevel).Value.Value().(byte); al&2 != 0 != mayWrite {
		t.Fatalf("level_sp UserAccessLevel %d for a writer: %v", al, mayWrite)
	}
	scan(plc)
	if got := tagValue(t, plc, "level_sp").Truth; mayWrite && got != float64(target) || !mayWrite && got != before {
		t.Fatalf("level_sp = %g after the write (was %g)", got, before)
	}
	if st := writeUA(t, c, "ns=1;s=level", float32(1)); st != ua.StatusBadNotWritable {
		t.Fatalf("write of an input register: %v", st)
	}
	if mayWrite {
		if st := writeUA(t, c, "ns=1;s=level_sp", float64(3)); st != ua.StatusBadTypeMismatch {
			t.Fatalf("write of a Double to a Float: %v", st)
		}
		if st := writeUA(t, c, "ns=1;s=pump2_run", true); st != ua.StatusOK {
			t.Fatalf("write of a coil: %v", st)
		}
		scan(plc)
		if tagValue(t, plc, "pump2_run").Truth != 1 {
			t.Fatal("pump2_run not set")
		}
		writeUA(t, c, "ns=1;s=pump2_run", false)
		scan(plc)
	}
}

// uaSubscribe monitors level: the first value comes, then a change.
func uaSubscribe(t *testing.T, c *gopcua.Client, plc *plantsim.PLC) {
	ctx := uaCtx(t)
	ch := make(chan *gopcua.PublishNotificationData, 16)
	sub, err := c.Subscribe(ctx, &gopcua.SubscriptionParameters{Interval: 100 * time.Millisecond}, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel(context.Background())
	req := gopcua.NewMonitoredItemCreateRequestWithDefaults(ua.MustParseNodeID("ns=1;s=level"), ua.AttributeIDValue, 42)
	res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, req)
	if err != nil || res.Results[0].StatusCode != ua.StatusOK {
		t.Fatalf("monitor: %v %v", res, err)
	}
	next := func() float32 {
		for {
			select {
			case n := <-ch:
				if n.Error != nil {
					t.Fatal(n.Error)
				}
				if dc, ok := n.Value.(*ua.DataChangeNotification); ok && len(dc.MonitoredItems) > 0 {
					it := dc.MonitoredItems[0]
					if it.ClientHandle != 42 {
						t.Fatalf("notification for handle %d", it.ClientHandle)
					}
					return it.Value.Value.Value().(float32)
				}
			case <-ctx.Done():
				t.Fatal("no notification")
			}
		}
	}
	first := next()
	if first != float32(tagValue(t, plc, "level").Reported) {
		t.Fatalf("first notification %g", first)
	}
	v := float64(first) + 1.25
	spoof(t, plc, "level", v)
	scan(plc)
	if got := next(); got != float32(v) {
		t.Fatalf("notification %g after the change to %g", got, v)
	}
	plc.Apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: "level"})
	scan(plc)
}

// uaUnitCodes are the UNECE Recommendation 20 codes our units must carry
// (the OPC Foundation's UNECE_to_OPCUA.csv), "" for a unit it has no code
// for: controller gains and ppm. A model with a unit missing here fails,
// so a new unit gets its code decided.
var uaUnitCodes = map[string]string{
	"m": "MTR", "mm": "MMT", "m3/h": "MQH", "L/h": "E92", "kg/s": "KGS", "kmol/h": "K58", "%": "P1",
	"kPa": "KPA", "A": "AMP", "kV": "KVT", "MW": "MAW", "kW": "KWT", "s": "SEC", "h": "HUR",
	"degC": "CEL", "pH": "Q30", "ppm": "",
	"%/m": "", "%/kPa": "", "%/mm": "", "%/K": "", "%/(L/h)": "",
}

// Every model's analog nodes carry their tag's value, range and unit.
func TestOPCUAEveryModel(t *testing.T) {
	for _, model := range plantsim.ModelNames() {
		t.Run(model, func(t *testing.T) {
			plc, err := plantsim.New(plantsim.Config{Model: model, Noise: 0})
			if err != nil {
				t.Fatal(err)
			}
			scan(plc)
			_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{})
			c := mustDialUA(t, url, secNone, uaAuth{})
			var tags []plantsim.MapEntry
			var req []*ua.ReadValueID
			for _, e := range plc.Model().Map() {
				if e.Float < 0 || e.Class == "diagnostic" {
					continue
				}
				tags = append(tags, e)
				for _, n := range []string{e.OPCUA, e.OPCUA + ".EURange", e.OPCUA + ".EngineeringUnits"} {
					req = append(req, &ua.ReadValueID{NodeID: ua.MustParseNodeID(n), AttributeID: ua.AttributeIDValue})
				}
			}
			resp, err := c.Read(uaCtx(t), &ua.ReadRequest{NodesToRead: req, TimestampsToReturn: ua.TimestampsToReturnNeither})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Results) != len(req) {
				t.Fatalf("%d results for %d nodes", len(resp.Results), len(req))
			}
			for i, e := range tags {
				v, rng, eu := resp.Results[3*i], resp.Results[3*i+1], resp.Results[3*i+2]
				if rng.Status != ua.StatusOK || eu.Status != ua.StatusOK {
					t.Errorf("%s: EURange %v, EngineeringUnits %v", e.Tag, rng.Status, eu.Status)
					continue
				}
				if v.Status != ua.StatusOK || v.Value.Value() != float32(tagValue(t, plc, e.Tag).Reported) {
					t.Errorf("%s = %v (%v), PLC reports %g", e.Tag, v.Value, v.Status, tagValue(t, plc, e.Tag).Reported)
				}
				r, ok := rng.Value.Value().(*ua.ExtensionObject).Value.(*ua.Range)
				if !ok || r.Low != e.Min || r.High != e.Max {
					t.Errorf("%s EURange %+v, want %g..%g", e.Tag, r, e.Min, e.Max)
				}
				u, ok := eu.Value.Value().(*ua.ExtensionObject).Value.(*ua.EUInformation)
				code, known := uaUnitCodes[e.Unit]
				if !known {
					t.Errorf("%s: unit %q has no UNECE code decided (uaUnitCodes)", e.Tag, e.Unit)
					continue
				}
				want := int32(-1)
				if code != "" {
					want = 0
					for _, ch := range []byte(code) {
						want = want<<8 | int32(ch)
					}
				}
				if !ok || u.DisplayName.Text != e.Unit || u.UnitID != want {
					t.Errorf("%s EngineeringUnits %+v, want %q with UnitId %d (%s)", e.Tag, u, e.Unit, want, code)
				}
			}
		})
	}
}

// plctestWaterTank is a noiseless water tank.
func plctestWaterTank(t testing.TB) *plantsim.PLC {
	t.Helper()
	plc, err := plantsim.New(plantsim.Config{Model: "water-tank", Noise: 0})
	if err != nil {
		t.Fatal(err)
	}
	return plc
}

// Identities: anonymous refused when switched off, allowed to write when
// misconfigured so; a wrong password refused and audited; an operator
// writes setpoints but not limits.
func TestOPCUAIdentities(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secNone, secEncrypt},
		NoAnonymous: true, Users: uaUsers})
	if _, err := dialUA(t, url, secEncrypt, uaAuth{}); !errors.Is(err, ua.StatusBadIdentityTokenRejected) {
		t.Fatalf("anonymous with anonymous off: %v", err)
	}
	if _, err := dialUA(t, url, secEncrypt, uaAuth{"eng", "wrong"}); !errors.Is(err, ua.StatusBadUserAccessDenied) {
		t.Fatalf("wrong password: %v", err)
	}
	refused := false
	for _, a := range plc.Capture(0).Audit {
		refused = refused || a.Kind == "refused" && strings.Contains(a.Detail, "user eng")
	}
	if !refused {
		t.Fatal("the refused identity is not in the audit trail")
	}
	op := mustDialUA(t, url, secEncrypt, uaAuth{"op", "s3cret-op"})
	if st := writeUA(t, op, "ns=1;s=level_sp", float32(4)); st != ua.StatusOK {
		t.Fatalf("operator writing a setpoint: %v", st)
	}
	if st := writeUA(t, op, "ns=1;s=alarm_hh", float32(9.9)); st != ua.StatusBadUserAccessDenied {
		t.Fatalf("operator writing a limit: %v", st)
	}
	if al := readUA(t, op, "ns=1;s=alarm_hh", ua.AttributeIDUserAccessLevel).Value.Value().(byte); al != 1 {
		t.Fatalf("alarm_hh UserAccessLevel %d for an operator", al)
	}
	// The password went encrypted even over None: the server's
	// certificate encrypts username tokens there.
	none := mustDialUA(t, url, secNone, uaAuth{"eng", "s3cret-eng"})
	if st := writeUA(t, none, "ns=1;s=alarm_hh", float32(9.5)); st != ua.StatusOK {
		t.Fatalf("engineer over None writing a limit: %v", st)
	}
	for _, tx := range plc.Capture(0).Transactions {
		if bytes.Contains(tx.Request, []byte("s3cret")) {
			t.Fatalf("a password in the clear in %s", tx.Op)
		}
	}

	// Misconfigured: anonymous writes, and without a certificate the
	// password crosses a None channel in the clear.
	plc2 := plctestWaterTank(t)
	_, url2 := startOPCUA(t, plc2, plantsim.OPCUAConfig{AnonymousWrite: true, Users: uaUsers})
	anon := mustDialUA(t, url2, secNone, uaAuth{})
	if st := writeUA(t, anon, "ns=1;s=bypass", true); st != ua.StatusOK {
		t.Fatalf("anonymous write with AnonymousWrite: %v", st)
	}
	mustDialUA(t, url2, secNone, uaAuth{"eng", "s3cret-eng"})
	clear := false
	for _, tx := range plc2.Capture(0).Transactions {
		clear = clear || tx.Op == "activatesession" && bytes.Contains(tx.Request, []byte("s3cret-eng"))
	}
	if !clear {
		t.Fatal("without a certificate the password should be readable on the wire")
	}
}

// Only the offered security is usable: a None channel serves discovery but
// no session; an unoffered mode is refused at OPN.
func TestOPCUASecurityEnforced(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secEncrypt}})
	ctx := uaCtx(t)
	eps, err := gopcua.GetEndpoints(ctx, url)
	if err != nil || len(eps) != 1 || eps[0].SecurityMode != ua.MessageSecurityModeSignAndEncrypt {
		t.Fatalf("endpoints over a discovery channel: %v %v", eps, err)
	}
	c, err := gopcua.NewClient(url, gopcua.SecurityPolicy(opcua.PolicyNone), gopcua.SecurityMode(ua.MessageSecurityModeNone),
		gopcua.AutoReconnect(false), gopcua.RequestTimeout(ioTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); !errors.Is(err, ua.StatusBadSecurityPolicyRejected) {
		t.Fatalf("session over None when it is not offered: %v", err)
	}
	sign := *eps[0] // the offered endpoint, asked for with Sign only
	sign.SecurityMode = ua.MessageSecurityModeSign
	c, err = gopcua.NewClient(url, gopcua.SecurityFromEndpoint(&sign, ua.UserTokenTypeAnonymous),
		gopcua.Certificate(uaCerts().client), gopcua.PrivateKey(uaCerts().clientKey),
		gopcua.AutoReconnect(false), gopcua.RequestTimeout(ioTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err == nil {
		t.Fatal("Sign accepted where only SignAndEncrypt is offered")
	}
	rejected := false
	for _, tx := range plc.Capture(0).Transactions {
		rejected = rejected || tx.Op == "error" && strings.Contains(tx.Outcome, "StatusBadSecurityModeRejected") &&
			bytes.HasPrefix(tx.Response, []byte("ERRF"))
	}
	if !rejected {
		t.Fatal("the OPN with an unoffered mode was not answered with ERR BadSecurityModeRejected")
	}
	mustDialUA(t, url, secEncrypt, uaAuth{})
}

// The traffic log records OPC UA transactions with the same attribution as
// Modbus: who, which node, read or write, value, outcome, and the frames.
func TestOPCUATrafficLog(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{AnonymousWrite: true})
	// Attribute every connection the client makes from its next ports:
	// the client dials twice (discovery, then the session).
	d := &net.Dialer{}
	ctx := uaCtx(t)
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(url, "opc.tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	plc.Attribute(conn.LocalAddr().String(), "10.20.1.66:40123", "host attacker")
	conn.Close()
	c := mustDialUA(t, url, secNone, uaAuth{})
	writeUA(t, c, "ns=1;s=level_sp", float32(7.5))
	writeUA(t, c, "ns=1;s=level", float32(1))
	readUA(t, c, "ns=1;s=level", ua.AttributeIDValue)
	var write *plantsim.Transaction
	ops := map[string]bool{}
	for _, tx := range plc.Capture(0).Transactions {
		if tx.Protocol() != plantsim.ProtoOPCUA {
			t.Fatalf("transaction of %s", tx.Proto)
		}
		ops[tx.Op] = true
		if tx.Op == "write" && write == nil {
			write = &tx
		}
	}
	for _, op := range []string{"hello", "open", "getendpoints", "createsession", "activatesession", "write", "read"} {
		if !ops[op] {
			t.Fatalf("no %s transaction among %v", op, ops)
		}
	}
	if write == nil || !write.IsWrite() || len(write.Items) != 1 ||
		write.Items[0] != (plantsim.Item{Point: "ns=1;s=level_sp", Tag: "level_sp", Write: true, Value: 7.5}) {
		t.Fatalf("write transaction %+v", write)
	}
	if !bytes.HasPrefix(write.Request, []byte("MSGF")) || !bytes.HasPrefix(write.Response, []byte("MSGF")) {
		t.Fatalf("frames % x / % x", write.Request[:8], write.Response[:8])
	}
	denied := false
	for _, tx := range plc.Capture(0).Transactions {
		if tx.Op == "write" && len(tx.Items) == 1 && tx.Items[0].Tag == "level" {
			denied = !tx.Items[0].Write && tx.Items[0].Status != "" && !tx.IsWrite()
		}
	}
	if !denied {
		t.Fatal("the refused write is not logged with its status")
	}
	var session bool
	for _, a := range plc.Capture(0).Audit {
		session = session || a.Kind == "session" && strings.Contains(a.Detail, "anonymous")
	}
	if !session {
		t.Fatal("no session entry in the audit trail")
	}
}

// A client renews its security token at three quarters of its lifetime;
// the channel goes on with the new one.
func TestOPCUATokenRenewal(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secEncrypt}})
	ctx := uaCtx(t)
	eps, err := gopcua.GetEndpoints(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gopcua.NewClient(url, gopcua.SecurityFromEndpoint(eps[0], ua.UserTokenTypeAnonymous),
		gopcua.Certificate(uaCerts().client), gopcua.PrivateKey(uaCerts().clientKey),
		gopcua.Lifetime(2*time.Second), gopcua.AutoReconnect(false), gopcua.RequestTimeout(ioTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFor(t, "the renewed channel in the traffic log", func() bool {
		n := 0
		for _, tx := range plc.Capture(0).Transactions {
			if tx.Op == "open" {
				n++
			}
		}
		return n >= 3 // discovery's, the session channel's, its renewal
	})
	if dv := readUA(t, c, "ns=1;s=level", ua.AttributeIDValue); dv.Status != ua.StatusOK {
		t.Fatalf("read after the renewal: %v", dv.Status)
	}
}

// During communication loss the server answers nothing, as Modbus does.
func TestOPCUACommLoss(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{})
	c := mustDialUA(t, url, secNone, uaAuth{})
	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectFault, Fault: plantsim.FaultCommLoss}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID("ns=1;s=level"), AttributeID: ua.AttributeIDValue}}})
	if err == nil {
		t.Fatal("a read answered during communication loss")
	}
	dropped := false
	for _, tx := range plc.Capture(0).Transactions {
		dropped = dropped || tx.NoReply
	}
	if !dropped {
		t.Fatal("the dropped request is not logged")
	}
	plc.Apply(plantsim.Effect{Kind: plantsim.EffectClearFault, Fault: plantsim.FaultCommLoss})
	if dv := readUA(t, c, "ns=1;s=level", ua.AttributeIDValue); dv.Status != ua.StatusOK {
		t.Fatalf("read after the fault cleared: %v", dv.Status)
	}
}
