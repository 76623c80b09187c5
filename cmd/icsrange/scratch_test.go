package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/plants"
)

// The static binary runs in a FROM scratch image: no libc, no shell, no
// certificates — what air-gapped labs and the container backends need.
func TestStaticBinaryRunsFromScratch(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil || exec.Command("docker", "info").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Docker daemon answers")
		}
		t.Skip("no Docker daemon answers")
	}
	dir := t.TempDir()
	bin, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "icsrange"), bin, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY icsrange /icsrange\nENTRYPOINT [\"/icsrange\"]\n"), 0o644)
	tag := fmt.Sprintf("icsrange-scratch-test:%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", tag, "plc", "--model", "water-tank", "--print-map").CombinedOutput()
	if err != nil {
		t.Fatalf("the binary does not run from scratch: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("level_sp")) || !bytes.Contains(out, []byte("40001")) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	// And serves: the containerised PLC answers Modbus on a published port.
	name := strings.ReplaceAll(tag, ":", "-")
	run := exec.CommandContext(ctx, "docker", "run", "-d", "--rm", "--name", name, "-p", "127.0.0.1::502", tag,
		"plc", "--model", "reactor", "--listen", "0.0.0.0:502", "--mgmt", "127.0.0.1:9020")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	port, err := exec.CommandContext(ctx, "docker", "port", name, "502/tcp").Output()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(strings.Split(string(port), "\n")[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := pingModbus(addr); err == nil {
			break
		} else if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Fatalf("the containerised PLC at %s does not answer Modbus: %v\n%s", addr, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pingModbus(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return plants.Ping(ctx, addr, 1, nil)
}
