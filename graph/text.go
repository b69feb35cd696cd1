package graph

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/topo-lab/topo/topo"
)

// Texts shown in pictures. Lines inside one label are joined with DOT's
// "\n" escape (a backslash and an n in the value), which Graphviz centres.

const lineBreak = `\n`

// percent formats a percentage the shortest way that parses back exactly:
// 0.5 is "0.5%".
func percent(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + "%" }

// duration formats a delay the way ParseDelay reads it back exactly.
func duration(d time.Duration) string { return d.String() }

// impairText is a link's impairments and MTU in a few words, as on the
// link in a picture: "10ms ±2ms 1% 100mbit mtu 1400". down adds "down".
func impairText(l *topo.Link, down bool) string {
	var parts []string
	if l.Delay > 0 {
		s := duration(l.Delay)
		if l.Jitter > 0 {
			s += " ±" + duration(l.Jitter)
		}
		parts = append(parts, s)
	}
	if l.Loss > 0 {
		parts = append(parts, percent(l.Loss))
	}
	if l.Duplicate > 0 {
		parts = append(parts, "dup "+percent(l.Duplicate))
	}
	if l.Corrupt > 0 {
		parts = append(parts, "corrupt "+percent(l.Corrupt))
	}
	if l.Reorder > 0 {
		parts = append(parts, "reorder "+percent(l.Reorder))
	}
	if l.Rate > 0 {
		parts = append(parts, topo.FormatRate(l.Rate))
	}
	if l.MTU > 0 && l.MTU != defaultMTU {
		parts = append(parts, "mtu "+strconv.Itoa(l.MTU))
	}
	if down {
		parts = append(parts, "down")
	}
	return strings.Join(parts, " ")
}

// defaultMTU is the kernel's MTU for a new veth: a link that sets it shows
// nothing.
const defaultMTU = 1500

// Marks after an interface's name in an end label, for ends that are not
// simply up.
const (
	markAdminDown = " (down)"
	markMissing   = " (missing)"
)

// endLabel is what a picture shows at one end of a link: the interface's
// name (marked when it is down or gone) and its addresses, one a line.
func endLabel(name, mark string, addrs []netip.Prefix) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(mark)
	for _, a := range addrs {
		b.WriteString(lineBreak)
		b.WriteString(a.String())
	}
	return b.String()
}

// Stats lines start with these words; ownEndLabel recognises them.
const (
	statsRx = "rx "
	statsTx = "tx "
)

// statsText is an interface's counters on two lines:
// "rx 1204 pkt 118.3 kB" and "tx 1198 pkt 117.9 kB", with drops when
// there are any.
func statsText(c Counters) string {
	line := func(word string, pkts, bytes, dropped uint64) string {
		s := word + strconv.FormatUint(pkts, 10) + " pkt " + humanBytes(bytes)
		if dropped > 0 {
			s += ", " + strconv.FormatUint(dropped, 10) + " dropped"
		}
		return s
	}
	return line(statsRx, c.RxPackets, c.RxBytes, c.RxDropped) + lineBreak + line(statsTx, c.TxPackets, c.TxBytes, c.TxDropped)
}

// humanBytes formats a byte count with a decimal unit: 512 B, 1.5 kB,
// 23.4 MB.
func humanBytes(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		v /= 1000
		if v < 999.95 || u == "PB" {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
	}
	return "" // not reached
}

// ownEndLabel reports whether v is an end label that topo graph could
// have drawn for this end, in any state and with or without counters: such
// a value in a lab's attributes was written by an earlier topo graph, not
// by the user, and gives way to what topo draws now.
func ownEndLabel(v, name string, addrs []netip.Prefix) bool {
	lines := strings.Split(v, lineBreak)
	if len(lines) < 1+len(addrs) {
		return false
	}
	if first := lines[0]; first != name && first != name+markAdminDown && first != name+markMissing {
		return false
	}
	for i, a := range addrs {
		if lines[1+i] != a.String() {
			return false
		}
	}
	rest := lines[1+len(addrs):]
	if len(rest) == 0 {
		return true
	}
	return len(rest) == 2 && strings.HasPrefix(rest[0], statsRx) && strings.HasPrefix(rest[1], statsTx)
}

// escapeText makes free text (a route, an exec line) safe in a Graphviz
// label or tooltip, where a backslash starts an escape such as \N (the
// node's name).
func escapeText(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
