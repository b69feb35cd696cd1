package link

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"golang.org/x/sys/unix"
)

const noNetem = "kernel has no sch_netem (modprobe sch_netem)"

// requireNetem skips a test on a kernel without sch_netem.
func requireNetem(t *testing.T) {
	t.Helper()
	ok, err := NetemAvailable()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip(noNetem)
	}
}

// throwawayNS makes a network namespace for one test, held only by the
// returned NS: closing it at cleanup ends the namespace and everything in
// it.
func throwawayNS(t *testing.T) *NS {
	t.Helper()
	type result struct {
		ns  *NS
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread never leaves the new namespace: it stays locked and
		// ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		ns, err := OpenNS(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		ch <- result{ns, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("throwaway namespace: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	return r.ns
}

// vethIn makes a veth pair a -- b inside ns and returns a's index.
func vethIn(t *testing.T, ns *NS) int {
	t.Helper()
	if err := AddVeth(Veth{A: End{NS: ns, Name: "a", Index: 21}, B: End{NS: ns, Name: "b", Index: 22}}); err != nil {
		t.Fatal(err)
	}
	return 21
}

// tcShow runs tc qdisc show inside ns, when tc and nsenter are there, to
// see the parameters as iproute2 decodes them.
func tcShow(t *testing.T, ns *NS, dev string) string {
	t.Helper()
	if _, err := exec.LookPath("tc"); err != nil {
		return ""
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return ""
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns.fd))
	out, err := exec.Command("nsenter", "--net="+path, "tc", "qdisc", "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show: %v\n%s", err, out)
	}
	return string(out)
}

func TestImpairValidate(t *testing.T) {
	for _, c := range []struct {
		im   Impair
		want string // "" is valid
	}{
		{Impair{}, ""},
		{Impair{Rate: 10e6}, ""},
		{Impair{Delay: time.Millisecond, Jitter: time.Millisecond, Reorder: 25}, ""},
		{Impair{Rate: 10e6, Limit: 100}, ""},
		{Impair{Loss: 101}, "loss"},
		{Impair{Corrupt: -1}, "corrupt"},
		{Impair{Jitter: time.Millisecond}, "jitter needs a delay"},
		{Impair{Delay: time.Millisecond, Jitter: 3 * time.Second}, "at most"},
		{Impair{Reorder: 10}, "reorder needs a delay"},
		{Impair{Rate: 7}, "at least 8bit"},
		{Impair{Limit: 10}, "limit sizes"},
		{Impair{Limit: -1}, "positive"},
	} {
		err := c.im.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: err = %v, want %q", c.im, err, c.want)
		}
	}
}

// TestOptionsRoundTrip checks the encoding of netem's and tbf's options
// against their decoding, without a kernel.
func TestOptionsRoundTrip(t *testing.T) {
	for _, im := range []Impair{
		{Delay: 10 * time.Millisecond},
		{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.5, Duplicate: 1, Corrupt: 0.1, Reorder: 25},
		{Delay: 45 * time.Minute, Loss: 100},
		{Loss: 3.25, Limit: 50},
		{Delay: 1500 * time.Nanosecond}, // not a whole number of ticks
	} {
		var got Impair
		b := netemOptions(im, netemLimit(im, 1500)).Serialize()
		limit := readNetem(b[4:], &got)
		got.Limit = im.Limit // limits are checked below
		if got != im {
			t.Errorf("netem round trip: %+v read back %+v", im, got)
		}
		if want := netemLimit(im, 1500); limit != want {
			t.Errorf("netem limit %d, want %d", limit, want)
		}
	}
	for _, rate := range []uint64{8, 64000, 10e6, 1e9, 100e9} {
		im := Impair{Rate: rate}
		cfg := tbfFor(im, 1500)
		got, limit := readTbf(tbfOptions(cfg).Serialize()[4:])
		if got != rate || limit != cfg.limit {
			t.Errorf("tbf round trip %d: read back rate %d limit %d, want limit %d", rate, got, limit, cfg.limit)
		}
		if cfg.burst < 2*(1500+frameOverhead) || cfg.limit < cfg.burst {
			t.Errorf("rate %d: burst %d, limit %d", rate, cfg.burst, cfg.limit)
		}
	}
	// An explicit limit bounds the burst, so no packet the burst passes
	// whole is too big for the queue.
	if cfg := tbfFor(Impair{Rate: 1e9, Limit: 2}, 1500); cfg.limit != 2*1518 || cfg.burst > cfg.limit {
		t.Errorf("rate 1gbit limit 2: %+v", cfg)
	}
}

func TestNetemProbe(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	ok, err := NetemAvailable()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sch_netem available: %v", ok)
	// The config of the running kernel, where it is published, must agree.
	if b, err := exec.Command("sh", "-c", "zcat /proc/config.gz 2>/dev/null | grep NET_SCH_NETEM").Output(); err == nil && len(b) > 0 {
		builtin := strings.Contains(string(b), "CONFIG_NET_SCH_NETEM=y")
		absent := strings.Contains(string(b), "is not set")
		if builtin && !ok || absent && ok {
			t.Errorf("probe says %v, kernel config says %s", ok, b)
		}
	}
	// The answer is cached: a second call costs nothing.
	start := time.Now()
	if ok2, _ := NetemAvailable(); ok2 != ok || time.Since(start) > time.Millisecond {
		t.Errorf("second probe: %v in %v", ok2, time.Since(start))
	}
}

func TestSetImpairRate(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	ns := throwawayNS(t)
	idx := vethIn(t, ns)

	check := func(want Impair, qdisc string) {
		t.Helper()
		got, err := ns.Egress(idx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Impair != want || got.Qdisc != qdisc {
			t.Errorf("read back %+v (%q), want %+v (%q)", got.Impair, got.Qdisc, want, qdisc)
		}
	}
	check(Impair{}, "")
	for _, im := range []Impair{{Rate: 10e6}, {Rate: 50e6}, {Rate: 50e6, Limit: 20}, {Rate: 5e9}} {
		if err := ns.SetImpair(idx, im); err != nil {
			t.Fatalf("set %+v: %v", im, err)
		}
		check(im, "tbf")
	}
	if out := tcShow(t, ns, "a"); out != "" && !strings.Contains(out, "rate 5Gbit") {
		t.Errorf("tc sees:\n%s", out)
	}
	if err := ns.SetImpair(idx, Impair{Rate: 10e6}); err != nil {
		t.Fatal(err)
	}
	if out := tcShow(t, ns, "a"); out != "" && (!strings.Contains(out, "qdisc tbf 1: root") || !strings.Contains(out, "rate 10Mbit")) {
		t.Errorf("tc sees:\n%s", out)
	}
	// The MTU counts in the default burst and queue: a bigger one still
	// reads back as the default.
	if err := ns.SetMTU(idx, 9000); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetImpair(idx, Impair{Rate: 10e6}); err != nil {
		t.Fatal(err)
	}
	check(Impair{Rate: 10e6}, "tbf")
	// The peer has nothing.
	if e, err := ns.Egress(22); err != nil || e.Qdisc != "" {
		t.Errorf("peer: %+v %v", e, err)
	}
	if err := ns.SetImpair(idx, Impair{}); err != nil {
		t.Fatal(err)
	}
	check(Impair{}, "")
	// Clearing a clear link is no error.
	if err := ns.SetImpair(idx, Impair{}); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetImpair(idx, Impair{Loss: 200}); err == nil {
		t.Error("loss 200% accepted")
	}
}

// TestSetImpairNoNetem checks that asking for netem where the kernel lacks
// it says so and leaves the interface as it was.
func TestSetImpairNoNetem(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	if ok, _ := NetemAvailable(); ok {
		t.Skip("kernel has sch_netem: the missing-netem path cannot be seen here")
	}
	ns := throwawayNS(t)
	idx := vethIn(t, ns)
	if err := ns.SetImpair(idx, Impair{Rate: 10e6}); err != nil {
		t.Fatal(err)
	}
	err := ns.SetImpair(idx, Impair{Rate: 20e6, Delay: 10 * time.Millisecond})
	if !errors.Is(err, ErrNoNetem) {
		t.Fatalf("err = %v, want ErrNoNetem", err)
	}
	if e, _ := ns.Egress(idx); e.Impair != (Impair{Rate: 10e6}) || e.Qdisc != "tbf" {
		t.Errorf("after the failure: %+v", e)
	}
}

func TestSetImpairNetem(t *testing.T) {
	testutil.RequireRoot(t)
	requireNetem(t)
	testutil.CheckLeftovers(t)
	ns := throwawayNS(t)
	idx := vethIn(t, ns)
	// Every change of tree shape, and changes in place.
	steps := []struct {
		im    Impair
		qdisc string
	}{
		{Impair{Rate: 10e6}, "tbf"},
		{Impair{Rate: 10e6, Delay: 10 * time.Millisecond}, "netem+tbf"},
		{Impair{Rate: 20e6, Delay: 20 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.5}, "netem+tbf"},
		{Impair{Delay: 20 * time.Millisecond, Reorder: 25, Duplicate: 1, Corrupt: 0.1}, "netem"},
		{Impair{Delay: 20 * time.Millisecond, Limit: 50}, "netem"},
		{Impair{Loss: 1, Rate: 1e6, Limit: 30}, "netem+tbf"},
		{Impair{Rate: 1e6}, "tbf"},
		{Impair{Loss: 2}, "netem"},
		{Impair{}, ""},
	}
	for _, s := range steps {
		if err := ns.SetImpair(idx, s.im); err != nil {
			t.Fatalf("set %+v: %v", s.im, err)
		}
		got, err := ns.Egress(idx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Impair != s.im || got.Qdisc != s.qdisc {
			t.Errorf("set %+v (%s): read back %+v (%s)\n%s", s.im, s.qdisc, got.Impair, got.Qdisc, tcShow(t, ns, "a"))
		}
	}
}
