package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkExec runs `topo exec NODE -- true` and, interleaved on the same
// node, `nsenter --target PID --all true` (the kernel's shortest way into
// every namespace of a process), and reports both medians and their ratio.
func BenchmarkExec(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		b.Skip("needs nsenter (util-linux)")
	}
	root := b.TempDir()
	dot := filepath.Join(b.TempDir(), "one.dot")
	os.WriteFile(dot, []byte("graph benchexec { n1 }"), 0o644)
	env := append(os.Environ(), "TOPO_STATE_DIR="+root)
	run := func(args ...string) {
		c := exec.Command(bin, args...)
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("topo %v: %v\n%s", args, err, out)
		}
	}
	run("up", dot)
	defer run("down", "benchexec")
	st, err := os.ReadFile(filepath.Join(root, "benchexec", "lab.json"))
	if err != nil {
		b.Fatal(err)
	}
	pid := pidOf(b, st, "n1")
	timeIt := func(path string, args ...string) time.Duration {
		c := exec.Command(path, args...)
		c.Env = env
		t := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", path, args, err, out)
		}
		return time.Since(t)
	}
	var topoT, nsT []time.Duration
	b.ResetTimer()
	for range b.N {
		topoT = append(topoT, timeIt(bin, "exec", "n1", "--", "true"))
		nsT = append(nsT, timeIt("nsenter", "--target", strconv.Itoa(pid), "--all", "true"))
	}
	b.StopTimer()
	mt, mn := median(topoT), median(nsT)
	b.ReportMetric(float64(mt.Microseconds()), "topo-µs")
	b.ReportMetric(float64(mn.Microseconds()), "nsenter-µs")
	b.ReportMetric(float64(mt)/float64(mn), "x-nsenter")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// pidOf finds a node's init PID in a lab.json.
func pidOf(b *testing.B, state []byte, name string) int {
	var st struct {
		Nodes map[string]struct{ PID int }
	}
	if err := json.Unmarshal(state, &st); err != nil {
		b.Fatal(err)
	}
	return st.Nodes[name].PID
}
