package main

import (
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/opcua"
)

// protoFlags are icsrange plc's flags for the protocols served beside
// Modbus (docs/protocols.md), kept in one block.
type protoFlags struct {
	iec104       string
	iec104CA     uint
	iec104Select bool

	opcua          string
	opcuaSecurity  string
	opcuaNoAnon    bool
	opcuaAnonWrite bool
	opcuaUsers     userFlag
	opcuaCert      string
	opcuaKey       string
}

// userFlag collects repeated --opcua-user flags.
type userFlag []plantsim.OPCUAUser

func (u *userFlag) String() string { return "" }
func (u *userFlag) Set(s string) error {
	v, err := plantsim.ParseOPCUAUser(s)
	if err != nil {
		return err
	}
	*u = append(*u, v)
	return nil
}

func (f *protoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.iec104, "iec104", "", "also serve IEC 60870-5-104 on this address, e.g. 0.0.0.0:2404")
	fs.UintVar(&f.iec104CA, "iec104-ca", 1, "IEC 104 common address of ASDU (1..65534)")
	fs.BoolVar(&f.iec104Select, "iec104-select", false, "IEC 104 commands and set-points need select-before-operate")
	fs.StringVar(&f.opcua, "opcua", "", "also serve OPC UA on this address, e.g. 0.0.0.0:4840")
	fs.StringVar(&f.opcuaSecurity, "opcua-security", "none",
		"OPC UA security offered, comma-separated: none, basic256sha256 (Sign and SignAndEncrypt), basic256sha256-sign, basic256sha256-signandencrypt")
	fs.BoolVar(&f.opcuaNoAnon, "opcua-no-anonymous", false, "refuse anonymous OPC UA sessions (by default they may read)")
	fs.BoolVar(&f.opcuaAnonWrite, "opcua-anonymous-write", false, "let anonymous OPC UA sessions write (a misconfiguration to find)")
	fs.Var(&f.opcuaUsers, "opcua-user", "OPC UA username identity [ROLE=]NAME:PASSWORD, ROLE operator, engineer (default) or viewer (repeatable)")
	fs.StringVar(&f.opcuaCert, "opcua-cert", "", "OPC UA application certificate (PEM); default a self-signed one made at start when a secure policy is offered")
	fs.StringVar(&f.opcuaKey, "opcua-key", "", "key (PEM, RSA) of --opcua-cert")
}

// ports are the TCP ports the extra protocols listen on, for the capture.
func (f *protoFlags) ports() ([]uint16, error) {
	var out []uint16
	for _, a := range []string{f.iec104, f.opcua} {
		if a == "" {
			continue
		}
		p, err := strconv.ParseUint(listenPort(a), 10, 16)
		if err != nil || p == 0 {
			return nil, usageErr("--capture needs a fixed port on %q", a)
		}
		out = append(out, uint16(p))
	}
	return out, nil
}

// protoServer is one running extra protocol server.
type protoServer struct {
	name  string
	desc  string // the startup line that says where it listens
	ln    net.Listener
	serve func(net.Listener) error
	close func() error
}

// servers builds and listens the extra protocols' servers for plc, with
// the Modbus server's connection limits; on an error the listeners opened
// so far are closed.
func (f *protoFlags) servers(plc *plantsim.PLC, lim plantsim.ServerConfig) (out []protoServer, err error) {
	defer func() {
		if err != nil {
			for _, s := range out {
				s.ln.Close()
			}
			out = nil
		}
	}()
	if f.iec104 != "" {
		if f.iec104CA < 1 || f.iec104CA > 65534 {
			return out, usageErr("--iec104-ca %d is outside 1..65534", f.iec104CA)
		}
		srv, err := plantsim.NewIEC104Server(plc, plantsim.IEC104Config{CA: uint16(f.iec104CA), RequireSelect: f.iec104Select,
			MaxClients: lim.MaxClients, FrameTimeout: lim.FrameTimeout, EvictAfter: lim.EvictAfter})
		if err != nil {
			return out, err
		}
		ln, err := net.Listen("tcp", f.iec104)
		if err != nil {
			return out, fmt.Errorf("listen iec104: %w", err)
		}
		out = append(out, protoServer{"iec104", fmt.Sprintf("iec104=%s ca=%d", ln.Addr(), f.iec104CA), ln, srv.Serve, srv.Close})
	} else if f.iec104Select || f.iec104CA != 1 {
		return out, usageErr("--iec104-ca and --iec104-select need --iec104")
	}
	if f.opcua == "" {
		if f.opcuaSecurity != "none" || f.opcuaNoAnon || f.opcuaAnonWrite || len(f.opcuaUsers) > 0 || f.opcuaCert != "" || f.opcuaKey != "" {
			return out, usageErr("the --opcua-* flags need --opcua")
		}
		return out, nil
	}
	sec, err := plantsim.ParseOPCUASecurity(f.opcuaSecurity)
	if err != nil {
		return out, usageErr("--opcua-security: %v", err)
	}
	if f.opcuaNoAnon && f.opcuaAnonWrite {
		return out, usageErr("--opcua-no-anonymous and --opcua-anonymous-write contradict each other")
	}
	cfg := plantsim.OPCUAConfig{Security: sec, NoAnonymous: f.opcuaNoAnon, AnonymousWrite: f.opcuaAnonWrite,
		Users: f.opcuaUsers, IdleTimeout: lim.IdleTimeout, MaxClients: lim.MaxClients, FrameTimeout: lim.FrameTimeout, EvictAfter: lim.EvictAfter}
	secure := false
	for _, s := range sec {
		secure = secure || s.Policy != opcua.PolicyNone
	}
	switch {
	case f.opcuaCert != "" || f.opcuaKey != "":
		if cfg.Certificate, cfg.Key, err = loadUACert(f.opcuaCert, f.opcuaKey); err != nil {
			return out, err
		}
	case secure:
		hosts := []string{"localhost"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		if host, _, err := net.SplitHostPort(f.opcua); err == nil && host != "" {
			hosts = append(hosts, host)
		}
		if cfg.Certificate, cfg.Key, err = opcua.SelfSigned(plantsim.OPCUAApplicationURI(plc.ID()), hosts...); err != nil {
			return out, fmt.Errorf("opcua certificate: %w", err)
		}
	}
	srv, err := plantsim.NewOPCUAServer(plc, cfg)
	if err != nil {
		return out, err
	}
	ln, err := net.Listen("tcp", f.opcua)
	if err != nil {
		return out, fmt.Errorf("listen opcua: %w", err)
	}
	names := make([]string, len(sec))
	for i, s := range sec {
		names[i] = s.String()
	}
	anon := "read"
	switch {
	case f.opcuaNoAnon:
		anon = "off"
	case f.opcuaAnonWrite:
		anon = "write"
	}
	out = append(out, protoServer{"opcua", fmt.Sprintf("opcua=opc.tcp://%s security=%s anonymous=%s users=%d uri=%s", ln.Addr(),
		strings.Join(names, ","), anon, len(f.opcuaUsers), plantsim.OPCUAApplicationURI(plc.ID())), ln, srv.Serve, srv.Close})
	return out, nil
}

// loadUACert reads an OPC UA application certificate and its RSA key.
func loadUACert(certFile, keyFile string) ([]byte, *rsa.PrivateKey, error) {
	if certFile == "" || keyFile == "" {
		return nil, nil, errors.New("--opcua-cert and --opcua-key go together")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load opcua certificate: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("--opcua-key: OPC UA's Basic256Sha256 needs an RSA key")
	}
	return pair.Certificate[0], key, nil
}
