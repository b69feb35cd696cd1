package topo

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPingSeen(t *testing.T) {
	for _, c := range []struct {
		out  string
		code int
		want string
	}{
		{"PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.\n64 bytes from 10.0.2.2: icmp_seq=1 ttl=63 time=0.061 ms\n", 0, "reply, ttl 63, 0.061 ms"},
		{"PING 10.0.2.2 (10.0.2.2): 56 data bytes\n64 bytes from 10.0.2.2: seq=0 ttl=64 time=0.100 ms\n", 0, "reply, ttl 64, 0.100 ms"}, // BusyBox
		{"PING 10.9.0.1 (10.9.0.1) 56(84) bytes of data.\nFrom 10.0.1.1 icmp_seq=1 Destination Net Unreachable\n", 1, "no reply: Destination Net Unreachable from 10.0.1.1"},
		{"ping: connect: Network is unreachable\n", 2, "no reply: connect: Network is unreachable"},
		{"PING 10.9.0.1 (10.9.0.1) 56(84) bytes of data.\n\n--- 10.9.0.1 ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss, time 0ms\n", 1, "no reply within 2s"},
	} {
		if got := pingSeen(c.out, c.code); got != c.want {
			t.Errorf("%q: got %q, want %q", c.out, got, c.want)
		}
	}
}

func TestRouteMatches(t *testing.T) {
	_, dst, _ := net.ParseCIDR("10.0.2.0/24")
	names := map[int]string{2: "eth0", 3: "eth1"}
	single := netlink.Route{Dst: dst, Gw: net.ParseIP("10.0.12.2").To4(), LinkIndex: 3, Protocol: unix.RTPROT_OSPF, Priority: 20, Family: netlink.FAMILY_V4}
	multi := netlink.Route{Dst: dst, Protocol: unix.RTPROT_OSPF, Family: netlink.FAMILY_V4, MultiPath: []*netlink.NexthopInfo{
		{LinkIndex: 2, Gw: net.ParseIP("10.0.1.2")}, {LinkIndex: 3, Gw: net.ParseIP("10.0.12.2")},
	}}
	def := netlink.Route{Gw: net.ParseIP("10.0.1.1"), LinkIndex: 2, Protocol: unix.RTPROT_BOOT, Family: netlink.FAMILY_V4}
	for _, c := range []struct {
		check string
		r     netlink.Route
		want  bool
	}{
		{"route r1 10.0.2.0/24", single, true},
		{"route r1 10.0.2.0/24 via 10.0.12.2", single, true},
		{"route r1 10.0.2.0/24 via 10.0.12.3", single, false},
		{"route r1 10.0.2.0/24 dev eth1 proto ospf", single, true},
		{"route r1 10.0.2.0/24 dev eth0", single, false},
		{"route r1 10.0.2.0/24 proto rip", single, false},
		{"route r1 10.0.2.0/24 proto 188", single, true},
		{"route r1 10.0.2.0/24 via 10.0.1.2 dev eth0", multi, true}, // any next hop of several
		{"route r1 10.0.2.0/24 via 10.0.1.2 dev eth1", multi, false},
		{"route r1 default via 10.0.1.1 proto boot", def, true},
	} {
		checks, err := ParseChecks("t", []byte(c.check))
		if err != nil {
			t.Fatal(err)
		}
		if routeDst(c.r) != checks[0].Prefix {
			t.Errorf("%s: destination %s", c.check, routeDst(c.r))
		}
		if got := routeMatches(checks[0], c.r, names); got != c.want {
			t.Errorf("%s: got %v, want %v", c.check, got, c.want)
		}
	}
	for r, want := range map[*netlink.Route]string{
		&single: "10.0.2.0/24 via 10.0.12.2 dev eth1 proto ospf metric 20",
		&multi:  "10.0.2.0/24 nexthops via 10.0.1.2 dev eth0, via 10.0.12.2 dev eth1 proto ospf",
		&def:    "default via 10.0.1.1 dev eth0 proto boot",
	} {
		if got := describeRoute(*r, names); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestPingMatrixSummary(t *testing.T) {
	m := &PingMatrix{Nodes: []string{"a", "b", "c"}, Reach: [][]bool{{true, true, false}, {true, true, true}, {false, true, true}}}
	if ok, s := m.summary(); ok || s != "4 of 6 pairs reply; no reply a->c c->a" {
		t.Errorf("got %v %q", ok, s)
	}
	m.Reach[0][2], m.Reach[2][0] = true, true
	if ok, s := m.summary(); !ok || s != "all 6 pairs reply" {
		t.Errorf("got %v %q", ok, s)
	}
}

// TestRunChecks evaluates every kind of check, passing and failing, on a
// running lab.
func TestRunChecks(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab := upLab(t, "quickstart.dot", "qcheck", root)
	defer func(d time.Duration) { runTimeout = d }(runTimeout)
	runTimeout = time.Second

	file := filepath.Join(t.TempDir(), "q.checks")
	src := `ping h1 h2                                # pass
ping h1 10.0.2.1                                      # pass
not ping h1 10.9.0.1                                  # pass
ping h1 10.9.0.1                                      # fail
route h1 default via 10.0.1.1 dev eth0 proto boot     # pass
route r1 10.0.2.0/24 dev eth1 proto kernel            # pass
route r1 10.0.9.0/24                                  # fail
not route r1 10.0.1.0/24                              # fail
run r1 "cat /proc/sys/net/ipv4/ip_forward" matches "^1$"   # pass
run h2 "hostname" contains "h1"                       # fail
run h1 "sleep 60 & echo started"  contains "started"  # pass: the sleep keeps the output open
run h1 "sleep 5"                                      # fail: timed out
not run h1 "exit 3"                                   # pass
pingall                                               # pass
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := RunChecks(context.Background(), lab.Name, Options{Root: root}, CheckOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rounds != 1 || rep.Pass || rep.Failed != 5 || rep.Passed != 9 || len(rep.Results) != 14 {
		t.Errorf("report: %d rounds, pass %v, %d failed, %d passed, %d results", rep.Rounds, rep.Pass, rep.Failed, rep.Passed, len(rep.Results))
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("checks took %v: the background sleep held them up?", d)
	}
	for _, r := range rep.Results {
		want := strings.HasPrefix(r.Note, "pass")
		if r.Pass != want {
			t.Errorf("line %d %s: pass %v, want %v (expected %s, seen %s)", r.Line, r.Check, r.Pass, want, r.Expected, r.Seen)
		}
		t.Logf("line %d: %v: %s | %s", r.Line, r.Pass, r.Expected, r.Seen)
	}
	for line, seen := range map[int]string{
		7:  "no route for 10.0.9.0/24",
		8:  "10.0.1.0/24 dev eth0 proto kernel",
		10: "not found in the output: h2",
		12: "timed out after 1s",
	} {
		if got := rep.Results[line-1].Seen; !strings.HasPrefix(got, seen) {
			t.Errorf("line %d: seen %q, want %q...", line, got, seen)
		}
	}
	if m := rep.Results[13].Matrix; m == nil || len(m.Nodes) != 2 || !m.Reach[0][1] || !m.Reach[1][0] {
		t.Errorf("pingall matrix %+v", m)
	}

	// --wait gives up when the time is up, and says how many rounds ran.
	rounds := 0
	rep, err = RunChecks(context.Background(), lab.Name, Options{Root: root}, CheckOptions{File: file, Wait: 4 * time.Second, Round: func(*CheckReport) { rounds++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.Rounds < 2 || rounds != rep.Rounds-1 {
		t.Errorf("wait: pass %v after %d rounds, %d callbacks", rep.Pass, rep.Rounds, rounds)
	}

	// A lab that is not running is an error, not a failed check.
	if _, err := RunChecks(context.Background(), "nosuchlab", Options{Root: root}, CheckOptions{File: file}); err == nil {
		t.Error("no error for a lab that does not run")
	}
}
