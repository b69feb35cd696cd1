package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkStart50 starts 50 nodes one after another with Start, as a lab
// of 50 hosts would without its parallelism, and reports the time per node,
// the CPU time an init spent getting ready (from its exec to idle; the
// namespaces themselves are made by the caller's clone), and the
// proportional set size (PSS: shared pages divided among the processes that
// share them) of an idle node's init, averaged over the 50.
func BenchmarkStart50(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: it creates namespaces")
	}
	const n = 50
	ctx := context.Background()
	var spent time.Duration
	var pssKB, samples int64
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		procs := make([]Proc, 0, n)
		kill := func() {
			if err := Kill(ctx, procs); err != nil {
				b.Error(err)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		for i := range n {
			p, err := Start(ctx, dir, Config{Lab: "bench", Name: "n" + strconv.Itoa(i), NoIPv6: true})
			if err != nil {
				b.StopTimer()
				kill()
				b.Fatalf("start node %d: %v", i, err)
			}
			procs = append(procs, p)
		}
		spent += time.Since(t0)
		b.StopTimer()
		// Idle: let whatever an init does after reporting ready settle.
		time.Sleep(200 * time.Millisecond)
		for _, p := range procs {
			kb, err := pss(p.PID)
			if err != nil {
				kill()
				b.Fatal(err)
			}
			pssKB += kb
			samples++
			d, err := cpuTime(p.PID)
			if err != nil {
				kill()
				b.Fatal(err)
			}
			cpu += d
		}
		kill()
		b.StartTimer()
	}
	b.ReportMetric(float64(spent.Microseconds())/1000/float64(b.N*n), "ms/node")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(samples), "init-CPU-ms/node")
	b.ReportMetric(float64(pssKB)/float64(samples), "PSS-kB/node")
}

// cpuTime reads the CPU time a process has run for (its schedstat).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty /proc/%d/schedstat", pid)
	}
	ns, err := strconv.ParseInt(string(f[0]), 10, 64)
	return time.Duration(ns), err
}

// pss reads a process's proportional set size, in kB.
func pss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "Pss:" {
			return strconv.ParseInt(string(f[1]), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss in /proc/%d/smaps_rollup", pid)
}
