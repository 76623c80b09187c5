//go:build unix

package plantsim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Benchmarks for the performance targets of the plant simulator:
//
//	BenchmarkFC3        FC3 (10 holding registers) throughput and p50/p99
//	                    latency against a scanning PLC at 1, 8 and 64 connections
//	BenchmarkFC3Peer    the same load against a libmodbus C server, for the
//	                    icsrange/libmodbus ratio measured with one client in one run
//	BenchmarkScan       the cost of one scan (and its two physics steps) per model
//	BenchmarkModelStep  one model alone: a physics step and a logic scan
//
// The per-model benchmarks report cpu-ns/op (process CPU time per operation)
// beside ns/op, which on a shared machine includes waiting for a core.
//	BenchmarkPLCs400    process CPU for 400 PLCs scanning at 10 Hz, % of one core
//
// Run them with
//
//	go test -run '^$' -bench . -benchtime 3s ./plant-sim/...

var benchConns = []int{1, 8, 64}

// benchFC3Qty is how many holding registers each FC3 request reads.
const benchFC3Qty = 10

// benchFC3Load drives the Modbus/TCP server at addr with conns connections,
// each a goroutine with its own modbus.Client doing back-to-back FC3 reads of
// benchFC3Qty registers at regAddr, b.N requests in all. It reports req/s and
// the p50 and p99 request latency in microseconds. BenchmarkFC3 and
// BenchmarkFC3Peer share it, so both servers see exactly the same client.
func benchFC3Load(b *testing.B, addr string, unit byte, regAddr uint16, conns int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clients := make([]*modbus.Client, conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	pdu := []byte{modbus.FuncReadHoldingRegisters, byte(regAddr >> 8), byte(regAddr), 0, benchFC3Qty}
	for i := range clients {
		c, err := modbus.Dial(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Timeout = 5 * time.Second
		clients[i] = c
		// One untimed request per connection: the server has accepted it
		// (and not turned it away at a client limit) before the clock runs.
		if _, err := c.Do(unit, pdu); err != nil {
			b.Fatalf("warm-up request on connection %d: %v", i, err)
		}
	}

	// Split b.N evenly; every goroutine records into its own slice, sized
	// up front, so the measuring loop allocates nothing of its own.
	lat := make([][]time.Duration, conns)
	for i := range lat {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		lat[i] = make([]time.Duration, n)
	}
	errs := make([]error, conns)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := lat[i]
			req := slices.Clone(pdu)
			<-start
			for j := range l {
				t0 := time.Now()
				resp, err := c.Do(unit, req)
				l[j] = time.Since(t0)
				if err == nil && len(resp) != 2+2*benchFC3Qty {
					err = fmt.Errorf("FC3 response of %d bytes", len(resp))
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}

	all := make([]time.Duration, 0, b.N)
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(benchPercentile(all, 50), "p50_us")
	b.ReportMetric(benchPercentile(all, 99), "p99_us")
}

// benchPercentile returns the nearest-rank percentile of sorted, in µs.
func benchPercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
}

// benchFC3Addr returns the start of the first holding-register block of the
// PLC's map long enough for one benchmark read.
func benchFC3Addr(b *testing.B, p *PLC) uint16 {
	for _, blk := range p.layout.blocks[HoldingRegister] {
		if blk.end-blk.start >= benchFC3Qty {
			return uint16(blk.start)
		}
	}
	b.Fatalf("model %s has no %d consecutive holding registers", p.model.Name, benchFC3Qty)
	return 0
}

// BenchmarkFC3 measures FC3 against a water-tank PLC that RunRealtime scans
// every 100 ms in the background, as a standalone PLC runs.
func BenchmarkFC3(b *testing.B) {
	plc, err := New(Config{ID: "bench", Model: "water-tank", Seed: 1, Noise: 1})
	if err != nil {
		b.Fatal(err)
	}
	regAddr := benchFC3Addr(b, plc)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { RunRealtime(ctx, DefaultScan, plc) })
	defer func() {
		cancel()
		running.Wait()
	}()

	// Room for the largest run plus connections of the previous run that
	// the server has not yet seen close.
	srv := NewServer(plc, ServerConfig{MaxClients: 2 * slices.Max(benchConns)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	running.Go(func() { srv.Serve(ln) })
	defer srv.Close()

	for _, n := range benchConns {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			benchFC3Load(b, ln.Addr().String(), plc.UnitID(), regAddr, n)
		})
	}
}

// BenchmarkFC3Peer runs BenchmarkFC3's load against a libmodbus server
// (testdata/libmodbus-server), built here with the system's C compiler.
func BenchmarkFC3Peer(b *testing.B) {
	b.Run("server=libmodbus", func(b *testing.B) {
		addr := benchStartLibmodbus(b)
		// The same request as BenchmarkFC3: the water-tank's first block
		// of 10 holding registers (libmodbus maps 1000 of them from 0).
		plc, err := New(Config{Model: "water-tank"})
		if err != nil {
			b.Fatal(err)
		}
		regAddr := benchFC3Addr(b, plc)
		for _, n := range benchConns {
			b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
				benchFC3Load(b, addr, plc.UnitID(), regAddr, n)
			})
		}
	})
}

// benchStartLibmodbus builds and starts the libmodbus reference server and
// returns its address. Without a C compiler or libmodbus headers it skips,
// except in CI, where the comparison must run.
func benchStartLibmodbus(b *testing.B) string {
	b.Helper()
	unavailable := func(format string, args ...any) {
		b.Helper()
		msg := fmt.Sprintf(format, args...) + " (apt-get install -y gcc libmodbus-dev)"
		if os.Getenv("CI") == "true" {
			b.Fatal(msg)
		}
		b.Skip(msg)
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		unavailable("no C compiler: %v", err)
	}
	flags := []string{"-I/usr/include/modbus", "-lmodbus"}
	if out, err := exec.Command("pkg-config", "--cflags", "--libs", "libmodbus").Output(); err == nil {
		flags = strings.Fields(string(out))
	}
	src, err := filepath.Abs(filepath.Join("testdata", "libmodbus-server", "server.c"))
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "libmodbus-server")
	args := append([]string{"-O2", "-o", bin, src}, flags...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("modbus.h")) || bytes.Contains(out, []byte("-lmodbus")) {
			unavailable("libmodbus is not installed: %s", bytes.TrimSpace(out))
		}
		b.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	cmd := exec.Command(bin, "0") // port 0: it prints the port it got
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		port, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if !ok {
			b.Fatalf("libmodbus server: unexpected first line %q", line)
		}
		return net.JoinHostPort("127.0.0.1", port)
	case <-time.After(10 * time.Second):
		b.Fatal("libmodbus server did not start within 10 s")
	}
	return ""
}

// BenchmarkScan measures one PLC scan period per model: one logic scan and
// the two 50 ms physics steps that go with a 100 ms scan, with nominal noise.
func BenchmarkScan(b *testing.B) {
	for _, name := range ModelNames() {
		b.Run("model="+name, func(b *testing.B) {
			p, err := New(Config{ID: "bench", Model: name, Seed: 1, Noise: 1})
			if err != nil {
				b.Fatal(err)
			}
			step := p.ScanPeriod()
			t := p.Now()
			scans := p.scans
			b.ReportAllocs()
			cpu0 := benchCPUTime(b)
			for b.Loop() {
				t += step
				p.Advance(t)
			}
			benchReportCPU(b, cpu0)
			if got := p.scans - scans; got != uint64(b.N) {
				b.Fatalf("%d scans in %d advances", got, b.N)
			}
		})
	}
}

// BenchmarkModelStep measures each model alone: one physics step (with its
// safety layer) and one logic scan, on a measurement copied from the truth
// (BenchmarkScan adds the PLC's noise, register image and history).
func BenchmarkModelStep(b *testing.B) {
	for _, name := range ModelNames() {
		b.Run("model="+name, func(b *testing.B) {
			p, err := New(Config{ID: "bench", Model: name, Seed: 1, Noise: 1})
			if err != nil {
				b.Fatal(err)
			}
			p.Advance(time.Minute)
			proc, v, m, net := p.proc, p.v, p.m, p.net
			dt, scan := p.cfg.Physics.Seconds(), p.cfg.Scan.Seconds()
			b.ReportAllocs()
			cpu0 := benchCPUTime(b)
			for b.Loop() {
				proc.Step(v, dt)
				copy(m, v)
				proc.Scan(v, m, net, scan, 0)
			}
			benchReportCPU(b, cpu0)
			for i, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					b.Fatalf("%s = %v after %d steps", p.model.Tags[i].Name, x, b.N)
				}
			}
		})
	}
}

// BenchmarkPLCs400 runs 400 PLCs (every model in turn) under one
// RunRealtime at 10 Hz for b.N scan periods and reports the process's CPU
// time (user+system, everything in the process) as a percentage of one core.
func BenchmarkPLCs400(b *testing.B) {
	const n = 400
	models := ModelNames()
	plcs := make([]*PLC, n)
	for i := range plcs {
		p, err := New(Config{ID: fmt.Sprintf("plc%d", i), Model: models[i%len(models)], Seed: uint64(i), Noise: 1})
		if err != nil {
			b.Fatal(err)
		}
		plcs[i] = p
	}
	scans := func() uint64 {
		var s uint64
		for _, p := range plcs {
			p.mu.Lock()
			s += p.scans
			p.mu.Unlock()
		}
		return s
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done sync.WaitGroup
	scans0 := scans()
	b.ResetTimer()
	cpu0, t0 := benchCPUTime(b), time.Now()
	done.Go(func() { RunRealtime(ctx, DefaultScan, plcs...) })
	time.Sleep(time.Duration(b.N) * DefaultScan)
	cancel()
	done.Wait()
	cpu, wall := benchCPUTime(b)-cpu0, time.Since(t0)
	b.StopTimer()
	ran := scans() - scans0

	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
	if ran > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(ran), "cpu-ns/scan")
	}
	b.ReportMetric(float64(ran)/wall.Seconds(), "scans/s")
}

// benchReportCPU reports the process's CPU time per operation since cpu0.
// On a machine shared with other work ns/op counts the time the benchmark
// waited for a core; cpu-ns/op is what the operation itself cost.
func benchReportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((benchCPUTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// benchCPUTime is the process's user plus system CPU time so far.
func benchCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
