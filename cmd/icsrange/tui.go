package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/icsrange/icsrange/tui"
)

func (m *Main) runTUI(ctx context.Context, args []string) error {
	fs := m.newFlags("tui", "--server URL --token TOKEN [--lang en|ja]")
	server := fs.String("server", "http://127.0.0.1:8080", "scoreboard URL (https:// uses wss://)")
	tok := fs.String("token", "", "team token (or --token-file, or $ICSRANGE_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the team token")
	lang := fs.String("lang", "en", "language: en or ja (switch at run time with L)")
	ca := fs.String("ca", "", "CA certificate (PEM) for a server with a private certificate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *lang != "en" && *lang != "ja" {
		return usageErr("--lang must be en or ja")
	}
	t := *tok
	if t == "" && *tokFile != "" {
		b, err := os.ReadFile(*tokFile)
		if err != nil {
			return fmt.Errorf("read token file: %w", err)
		}
		t = strings.TrimSpace(string(b))
	}
	if t == "" {
		t = os.Getenv("ICSRANGE_TOKEN")
	}
	if t == "" {
		return usageErr("give your team token with --token, --token-file or $ICSRANGE_TOKEN")
	}
	var tlsCfg *tls.Config
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("read --ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificates in %s", *ca)
		}
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client, err := tui.NewClient(*server, t, tlsCfg)
	if err != nil {
		return usageErr("%v", err)
	}
	return tui.Run(ctx, client, *lang)
}
