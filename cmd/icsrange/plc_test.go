package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --frame-timeout is checked, and the PLC closes a connection whose frame
// stays incomplete for that long.
func TestPLCFrameTimeoutFlag(t *testing.T) {
	for _, bad := range []string{"500ms", "2m"} {
		_, stderr, code := run(t, "plc", "--model", "water-tank", "--frame-timeout", bad)
		if code != 2 || !strings.Contains(stderr, "--frame-timeout "+bad) || !strings.Contains(stderr, "is outside 1s..1m0s") {
			t.Errorf("--frame-timeout %s: exit %d: %s", bad, code, stderr)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		m := &Main{Stdout: pw, Stderr: io.Discard}
		done <- m.Run(ctx, []string{"plc", "--model", "water-tank", "--listen", "127.0.0.1:0", "--mgmt", "127.0.0.1:0", "--frame-timeout", "1s"})
		pw.Close()
	}()
	defer func() {
		cancel()
		io.Copy(io.Discard, pr)
		<-done
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("the PLC printed nothing")
	}
	m := regexp.MustCompile(`modbus=(\S+)`).FindStringSubmatch(sc.Text())
	if m == nil {
		t.Fatalf("no modbus address in %q", sc.Text())
	}
	go io.Copy(io.Discard, pr)
	conn, err := net.DialTimeout("tcp", m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte{0, 1, 0, 0, 0}); err != nil { // most of an MBAP header
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = conn.Read(make([]byte, 16))
	if el := time.Since(start); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) || el < time.Second {
		t.Fatalf("read %v after %v of a partial frame; want the connection closed after 1s", err, el)
	}
}
