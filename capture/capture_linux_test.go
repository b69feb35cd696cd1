package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// settle gives the kernel time to hand over the last partly filled blocks before a capture is
// stopped; Run itself waits for them too, this only makes the tests independent of that.
const settle = 100 * time.Millisecond

func TestPCAPPing(t *testing.T) {
	n := newTestNet(t)
	c := startCapture(t, []Source{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}}, Options{Format: PCAP})
	n.ping(t, 3, false)
	time.Sleep(settle)
	c.finish(t)
	data := c.out.Bytes()
	wellFormed(t, data)
	all := tshark(t, data, "", "frame.number")
	if uint64(len(all)) != c.st.Captured {
		t.Errorf("file holds %d packets, Stats.Captured is %d", len(all), c.st.Captured)
	}
	if c.st.Dropped != 0 || c.st.Received < c.st.Captured {
		t.Errorf("stats %+v: want no drops and Received >= Captured", c.st)
	}
	icmp := tshark(t, data, "icmp", "ip.src", "ip.dst", "icmp.type", "icmp.seq")
	var want []string
	for seq := 1; seq <= 3; seq++ {
		want = append(want, addrA+"|"+addrB+"|8|"+strconv.Itoa(seq), addrB+"|"+addrA+"|0|"+strconv.Itoa(seq))
	}
	if !slices.Equal(icmp, want) {
		t.Errorf("ICMP in the file:\n%s\nwant:\n%s", strings.Join(icmp, "\n"), strings.Join(want, "\n"))
	}
}

func TestPCAPNGBothEnds(t *testing.T) {
	n := newTestNet(t)
	c := startCapture(t, []Source{
		{Name: "a:v0", NetNS: n.aPath, Iface: "v0"},
		{Name: "b:v1", NetNS: n.bPath, Iface: "v1"},
	}, Options{Format: PCAPNG})
	n.ping(t, 3, false)
	time.Sleep(settle)
	c.finish(t)
	data := c.out.Bytes()
	wellFormed(t, data)
	rows := tshark(t, data, "icmp", "frame.interface_name", "frame.packet_flags_direction", "ip.src", "icmp.type")
	count := map[string]int{}
	for _, r := range rows {
		count[r]++
	}
	want := map[string]int{
		"a:v0|0x00000002|" + addrA + "|8": 3, // outbound request on a's end
		"b:v1|0x00000001|" + addrA + "|8": 3, // inbound on b's end
		"b:v1|0x00000002|" + addrB + "|0": 3,
		"a:v0|0x00000001|" + addrB + "|0": 3,
	}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%q: %d packets, want %d (all: %v)", k, count[k], v, rows)
		}
	}
	// Timestamps in file order never go back.
	var last float64
	for i, s := range tshark(t, data, "", "frame.time_epoch") {
		ts, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		if ts < last {
			t.Errorf("packet %d at %f is older than the one before (%f)", i+1, ts, last)
		}
		last = ts
	}
	stats := tshark(t, data, "", "frame.number")
	if uint64(len(stats)) != c.st.Captured {
		t.Errorf("file holds %d packets, Stats.Captured is %d", len(stats), c.st.Captured)
	}
}

// TestFilter runs three captures side by side on the same interface: none, "icmp" and "arp".
// Each filtered capture must hold exactly the packets of the unfiltered one that tshark's
// equivalent display filter selects.
func TestFilter(t *testing.T) {
	n := newTestNet(t)
	src := []Source{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}}
	all := startCapture(t, src, Options{Format: PCAP})
	icmp := startCapture(t, src, Options{Format: PCAP, Filter: "icmp"})
	arp := startCapture(t, src, Options{Format: PCAP, Filter: "arp"})
	n.ping(t, 2, false)
	time.Sleep(settle)
	for _, c := range []*capture{all, icmp, arp} {
		c.finish(t)
	}
	// Each socket takes its own timestamp, so compare the packets' contents.
	fields := []string{"frame.len", "eth.src", "eth.dst", "frame.protocols", "ip.id", "icmp.type", "icmp.seq", "arp.opcode"}
	for _, tc := range []struct {
		c       *capture
		display string
		min     int
	}{{icmp, "icmp", 4}, {arp, "arp", 2}} {
		got := tshark(t, tc.c.out.Bytes(), "", fields...)
		want := tshark(t, all.out.Bytes(), tc.display, fields...)
		if !slices.Equal(got, want) {
			t.Errorf("filter %q kept:\n%s\nwant:\n%s", tc.display, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(got) < tc.min {
			t.Errorf("filter %q kept %d packets, want at least %d", tc.display, len(got), tc.min)
		}
		if uint64(len(got)) != tc.c.st.Captured {
			t.Errorf("filter %q: Stats.Captured %d, file holds %d", tc.display, tc.c.st.Captured, len(got))
		}
	}
}

func TestBadFilterOpensNothing(t *testing.T) {
	n := newTestNet(t)
	var out bytes.Buffer
	_, err := Run(context.Background(), []Source{{NetNS: n.aPath, Iface: "v0"}}, Options{Filter: "icmp and port"}, &out)
	if err == nil || !strings.Contains(err.Error(), "icmp and port") {
		t.Fatalf("Run with a bad filter: %v, want an error naming the filter", err)
	}
	if out.Len() != 0 {
		t.Errorf("Run wrote %d bytes despite the bad filter", out.Len())
	}
}

func TestCountStops(t *testing.T) {
	n := newTestNet(t)
	c := startCapture(t, []Source{{NetNS: n.aPath, Iface: "v0"}}, Options{Format: PCAP, Filter: "icmp", Count: 3})
	n.ping(t, 4, false)
	c.wait(t, 5*time.Second)
	if c.err != nil {
		t.Fatalf("Run: %v", c.err)
	}
	if c.st.Captured != 3 {
		t.Errorf("Stats.Captured = %d, want 3", c.st.Captured)
	}
	if got := tshark(t, c.out.Bytes(), "", "icmp.type"); !slices.Equal(got, []string{"8", "0", "8"}) {
		t.Errorf("file holds ICMP types %v, want [8 0 8]", got)
	}
}

func TestDurationStops(t *testing.T) {
	n := newTestNet(t)
	start := time.Now()
	c := startCapture(t, []Source{{NetNS: n.aPath, Iface: "v0"}}, Options{Format: PCAPNG, Duration: 300 * time.Millisecond})
	c.wait(t, 5*time.Second)
	if c.err != nil {
		t.Fatalf("Run: %v", c.err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Run returned after %v, before its duration", d)
	}
	if got := tshark(t, c.out.Bytes(), "", "frame.number"); len(got) != int(c.st.Captured) {
		t.Errorf("file holds %d packets, Stats.Captured is %d", len(got), c.st.Captured)
	}
}

func TestText(t *testing.T) {
	n := newTestNet(t)
	c := startCapture(t, []Source{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}}, Options{Filter: "arp or icmp or icmp6"})
	n.ping(t, 2, false)
	n.ping(t, 1, true)
	time.Sleep(settle)
	c.finish(t)
	macB := regexp.QuoteMeta(macOf(t, n.b, "v1").String())
	ts := `^\d\d:\d\d:\d\d\.\d{6} a:v0 `
	want := []string{
		ts + `Out ARP, Request who-has 192\.0\.2\.2 tell 192\.0\.2\.1, length 28$`,
		ts + `In ARP, Reply 192\.0\.2\.2 is-at ` + macB + `, length 28$`,
		ts + `Out IP 192\.0\.2\.1 > 192\.0\.2\.2: ICMP echo request, id \d+, seq 1, length 64$`,
		ts + `In IP 192\.0\.2\.2 > 192\.0\.2\.1: ICMP echo reply, id \d+, seq 1, length 64$`,
		ts + `Out IP 192\.0\.2\.1 > 192\.0\.2\.2: ICMP echo request, id \d+, seq 2, length 64$`,
		ts + `In IP 192\.0\.2\.2 > 192\.0\.2\.1: ICMP echo reply, id \d+, seq 2, length 64$`,
		ts + `Out IP6 2001:db8::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has 2001:db8::2, length 32$`,
		ts + `In IP6 2001:db8::2 > 2001:db8::1: ICMP6, neighbor advertisement, tgt is 2001:db8::2, length 32$`,
		ts + `Out IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id \d+, seq 1, length 64$`,
		ts + `In IP6 2001:db8::2 > 2001:db8::1: ICMP6, echo reply, id \d+, seq 1, length 64$`,
	}
	if testing.Verbose() {
		t.Logf("text output:\n%s", c.out.String())
	}
	lines := strings.Split(strings.TrimSuffix(c.out.String(), "\n"), "\n")
	// Other IPv6 chatter (router solicitations, MLD reports, link-local neighbour discovery)
	// may come in between: match the wanted lines in order, skipping the rest.
	i := 0
	for _, l := range lines {
		if i < len(want) && regexp.MustCompile(want[i]).MatchString(l) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("text output:\n%s\nhas no line after the %d matched matching\n%s", c.out.String(), i, want[i])
	}
	if uint64(len(lines)) != c.st.Captured {
		t.Errorf("%d lines, Stats.Captured %d", len(lines), c.st.Captured)
	}
}

// TestPipeToTshark streams pcapng into tshark's standard input while capturing, as
// `topo capture -w - | tshark -r -` does.
func TestPipeToTshark(t *testing.T) {
	n := newTestNet(t)
	requireTool(t, "tshark")
	cmd := exec.Command("tshark", "-r", "-", "-n", "-T", "fields", "-e", "frame.interface_name", "-e", "icmp.type", "-Y", "icmp")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, []Source{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}}, Options{Format: PCAPNG, Ready: func() { close(ready) }}, in)
		in.Close()
		done <- err
	}()
	<-ready
	n.ping(t, 2, false)
	time.Sleep(settle)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	if got := strings.Fields(out.String()); !slices.Equal(got, []string{"a:v0", "8", "a:v0", "0", "a:v0", "8", "a:v0", "0"}) {
		t.Errorf("tshark read %q", out.String())
	}
}

func TestMissingInterface(t *testing.T) {
	n := newTestNet(t)
	_, err := Run(context.Background(), []Source{
		{Name: "a:v0", NetNS: n.aPath, Iface: "v0"},
		{Name: "b:nope", NetNS: n.bPath, Iface: "nope"},
	}, Options{Format: PCAPNG}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `b:nope: no interface "nope"`) {
		t.Fatalf("Run: %v, want an error about the missing interface", err)
	}
}

// TestInterfaceGoes deletes the captured interface under a running capture: Run returns by
// itself with the error, and the output is complete.
func TestInterfaceGoes(t *testing.T) {
	n := newTestNet(t)
	c := startCapture(t, []Source{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}}, Options{Format: PCAPNG, Filter: "icmp"})
	n.ping(t, 1, false)
	n.run(t, n.a, "ip", "link", "del", "v0")
	c.wait(t, 5*time.Second)
	if !errors.Is(c.err, unix.ENETDOWN) {
		t.Errorf("Run: %v, want ENETDOWN", c.err)
	}
	if got := tshark(t, c.out.Bytes(), "", "icmp.type"); !slices.Equal(got, []string{"8", "0"}) {
		t.Errorf("file holds ICMP types %v, want [8 0]", got)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		srcs []Source
		opt  Options
	}{
		{"no source", nil, Options{}},
		{"pcap of two", []Source{{Iface: "a"}, {Iface: "b"}}, Options{Format: PCAP}},
		{"negative count", []Source{{Iface: "a"}}, Options{Count: -1}},
		{"unknown format", []Source{{Iface: "a"}}, Options{Format: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.srcs, tc.opt, io.Discard); err == nil {
				t.Error("Run accepted it")
			}
		})
	}
}

// TestUnderLoad captures a flood with two sources until Count: Run must get there by itself.
// It once could sleep in poll with a block handed over while it was flushing, until the
// context ended, dropping everything meanwhile.
func TestUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a veth for a few seconds")
	}
	n := newTestNet(t)
	bl := startBlaster(t, n, 0)
	for _, srcs := range [][]Source{
		{{Name: "b:v1", NetNS: n.bPath, Iface: "v1"}},
		{{Name: "a:v0", NetNS: n.aPath, Iface: "v0"}, {Name: "b:v1", NetNS: n.bPath, Iface: "v1"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		st, err := Run(ctx, srcs, Options{Format: PCAPNG, Filter: "udp", Count: 300000}, io.Discard)
		timedOut := ctx.Err() != nil
		cancel()
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if timedOut || st.Captured != 300000 {
			t.Errorf("%d sources: captured %d of 300000 (timed out: %v); stats %+v", len(srcs), st.Captured, timedOut, st)
		}
	}
	bl.halt()
}
