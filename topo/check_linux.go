package topo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CheckOptions tune RunChecks.
type CheckOptions struct {
	// File is the checks file; "" means the lab's own (see ChecksFile).
	File string
	// Wait, when positive, runs every check again, rounds starting at
	// most a second apart, until one round passes or Wait has gone by.
	Wait time.Duration
	// Workers bounds how many checks (pings of a pingall count one each)
	// run at once; 0 means 16.
	Workers int
	// Round, when not nil, is called after each round that did not pass
	// and will be followed by another.
	Round func(*CheckReport)
}

// CheckReport is the outcome of topo check: the last round's results.
type CheckReport struct {
	Lab  string `json:"lab"`
	File string `json:"file"`
	// Pass is true when every check passed.
	Pass   bool `json:"pass"`
	Passed int  `json:"passed"`
	Failed int  `json:"failed"`
	// Rounds is how many times the checks ran; Seconds how long from the
	// start of the first round to the end of the last.
	Rounds  int           `json:"rounds"`
	Seconds float64       `json:"seconds"`
	Results []CheckResult `json:"results"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Line  int       `json:"line"`
	Check string    `json:"check"`
	Note  string    `json:"note,omitempty"`
	Kind  CheckKind `json:"kind"`
	Pass  bool      `json:"pass"`
	// Expected and Seen say, in words, what the check wanted and what it
	// found.
	Expected string `json:"expected"`
	Seen     string `json:"seen"`
	// Matrix is a pingall's grid.
	Matrix *PingMatrix `json:"matrix,omitempty"`
}

// PingMatrix is a pingall's outcome: Reach[i][j] says whether Nodes[i] got
// a reply from Nodes[j] (true on the diagonal).
type PingMatrix struct {
	Nodes []string `json:"nodes"`
	Reach [][]bool `json:"reach"`
}

// RunChecks evaluates the checks of a running lab (see LoadChecks) and
// returns the results. A check that cannot be evaluated (a node that is not
// running) fails with the reason as what it saw; errors are for a lab that
// is not running and a checks file that cannot be read or is not valid (a
// *ValidationError). It runs commands in the nodes, and reads their
// routing tables with netlink handles bound to their namespaces: it
// switches no thread's namespace.
func RunChecks(ctx context.Context, labName string, opt Options, co CheckOptions) (*CheckReport, error) {
	st, err := ReadState(opt.root(), labName)
	if err != nil {
		return nil, err
	}
	if st.Phase != PhaseUp {
		return nil, fmt.Errorf("lab %s is %s, not up", labName, st.Phase)
	}
	checks, file, err := LoadChecks(st.Lab, co.File)
	if err != nil {
		return nil, err
	}
	ev := &evaluator{st: st, root: opt.root(), workers: co.Workers}
	if ev.workers <= 0 {
		ev.workers = 16
	}
	start := time.Now()
	for round := 1; ; round++ {
		began := time.Now()
		rep := ev.round(ctx, checks)
		rep.Lab, rep.File, rep.Rounds = st.Lab.Name, file, round
		rep.Seconds = time.Since(start).Seconds()
		left := co.Wait - time.Since(start)
		if rep.Pass || left <= 0 {
			return rep, nil
		}
		if co.Round != nil {
			co.Round(rep)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		// Rounds start a second apart, or at once after a slow round
		// (a ping that gets no reply waits PingTimeout).
		case <-time.After(max(0, min(time.Second-time.Since(began), left))):
		}
	}
}

// evaluator runs the checks of one lab.
type evaluator struct {
	st      *State
	root    string
	workers int
}

// task is one unit of work: a check, or one ping of a pingall.
type task struct {
	c    *Check
	res  *CheckResult
	from string // pingall: source and destination
	to   string
	ok   *bool // pingall: the cell of the matrix
}

// round evaluates every check once.
func (ev *evaluator) round(ctx context.Context, checks []*Check) *CheckReport {
	lab := ev.st.Lab
	rep := &CheckReport{Results: make([]CheckResult, len(checks))}
	var tasks []task
	for i, c := range checks {
		r := &rep.Results[i]
		*r = CheckResult{Line: c.Line, Check: c.Text, Note: c.Note, Kind: c.Kind, Expected: c.Expected(lab)}
		if c.Kind != CheckPingAll {
			tasks = append(tasks, task{c: c, res: r})
			continue
		}
		nodes := PingAllNodes(lab, c)
		m := &PingMatrix{Nodes: nodes, Reach: make([][]bool, len(nodes))}
		r.Matrix = m
		for a := range nodes {
			m.Reach[a] = make([]bool, len(nodes))
			m.Reach[a][a] = true
			for b := range nodes {
				if a != b {
					tasks = append(tasks, task{c: c, res: r, from: nodes[a], to: nodes[b], ok: &m.Reach[a][b]})
				}
			}
		}
	}
	work := make(chan task)
	var wg sync.WaitGroup
	for range min(ev.workers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				ev.run(ctx, t)
			}
		}()
	}
	for _, t := range tasks {
		work <- t
	}
	close(work)
	wg.Wait()

	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Matrix != nil {
			r.Pass, r.Seen = r.Matrix.summary()
		}
		if r.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	rep.Pass = rep.Failed == 0
	return rep
}

// run evaluates one task and writes its result. Tasks of one pingall write
// only their own cells.
func (ev *evaluator) run(ctx context.Context, t task) {
	c, r := t.c, t.res
	if ctx.Err() != nil {
		if t.ok == nil {
			r.Seen = "interrupted"
		}
		return
	}
	switch c.Kind {
	case CheckPing:
		addr, _, _ := ResolveTarget(ev.st.Lab, c.Target)
		ok, seen := ev.ping(ctx, c.Node, addr)
		r.Pass, r.Seen = ok != c.Not, seen
	case CheckPingAll:
		addr := nodeAddr(ev.st.Lab.Node(t.to))
		*t.ok, _ = ev.ping(ctx, t.from, addr)
	case CheckRoute:
		r.Pass, r.Seen = ev.route(c)
	case CheckRun:
		r.Pass, r.Seen = ev.runCheck(ctx, c)
	}
}

func (m *PingMatrix) summary() (bool, string) {
	total, ok := 0, 0
	var bad []string
	for a := range m.Nodes {
		for b := range m.Nodes {
			if a == b {
				continue
			}
			total++
			if m.Reach[a][b] {
				ok++
			} else {
				bad = append(bad, m.Nodes[a]+"->"+m.Nodes[b])
			}
		}
	}
	if ok == total {
		return true, fmt.Sprintf("all %d pairs reply", total)
	}
	const show = 6
	more := ""
	if len(bad) > show {
		more = fmt.Sprintf(" and %d more", len(bad)-show)
		bad = bad[:show]
	}
	return false, fmt.Sprintf("%d of %d pairs reply; no reply %s%s", ok, total, strings.Join(bad, " "), more)
}

// target finds a node of the lab for running commands in.
func (ev *evaluator) target(name string) (*Target, error) {
	return FindNode(name, ev.st.Lab.Name, Options{Root: ev.root})
}

// ping sends one ping from the node to addr and says what came back.
func (ev *evaluator) ping(ctx context.Context, from string, addr netip.Addr) (bool, string) {
	w := strconv.Itoa(int(PingTimeout / time.Second))
	out, code, err := ev.exec(ctx, from, []string{"ping", "-n", "-c", "1", "-W", w, addr.String()}, PingTimeout+3*time.Second)
	if err != nil {
		return false, err.Error()
	}
	return code == 0, pingSeen(out, code)
}

var (
	pingReply = regexp.MustCompile(`ttl=(\d+) time=([0-9.]+ ?m?s)`)
	pingError = regexp.MustCompile(`(?m)^From (\S+) .*?icmp_seq=\d+ (.+)$`)
)

// pingSeen sums up ping's output: the reply's TTL and time, or why there
// was none.
func pingSeen(out string, code int) string {
	if code == 0 {
		if m := pingReply.FindStringSubmatch(out); m != nil {
			return fmt.Sprintf("reply, ttl %s, %s", m[1], m[2])
		}
		return "reply"
	}
	if m := pingError.FindStringSubmatch(out); m != nil {
		return fmt.Sprintf("no reply: %s from %s", strings.TrimSpace(m[2]), m[1])
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ping:") {
			return "no reply: " + strings.TrimSpace(strings.TrimPrefix(l, "ping:"))
		}
	}
	return fmt.Sprintf("no reply within %v", PingTimeout)
}

// runCheck runs a run check's shell line and looks at what it printed.
func (ev *evaluator) runCheck(ctx context.Context, c *Check) (bool, string) {
	out, code, err := ev.exec(ctx, c.Node, []string{"/bin/sh", "-c", c.Command}, runTimeout)
	if err != nil {
		return false, err.Error()
	}
	switch {
	case c.Contains != "":
		if line, ok := findLine(out, func(l string) bool { return strings.Contains(l, c.Contains) }); ok {
			return !c.Not, "found: " + line
		}
		if strings.Contains(out, c.Contains) {
			return !c.Not, "found"
		}
		return c.Not, "not found in " + outputGist(out, code)
	case c.Match != nil:
		if loc := c.Match.FindStringIndex(out); loc != nil {
			line, _ := findLine(out[lineStart(out, loc[0]):], func(string) bool { return true })
			return !c.Not, "matched: " + line
		}
		return c.Not, "no match in " + outputGist(out, code)
	}
	if code == 0 {
		return !c.Not, "exit status 0"
	}
	return c.Not, fmt.Sprintf("exit status %d, %s", code, outputGist(out, 0))
}

func lineStart(s string, i int) int { return strings.LastIndexByte(s[:i], '\n') + 1 }

// findLine returns the first line of out that ok accepts, trimmed and
// shortened for a table.
func findLine(out string, ok func(string) bool) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		if ok(l) {
			return shorten(strings.Join(strings.Fields(l), " "), 100), true
		}
	}
	return "", false
}

// outputGist describes a command's output in a few words.
func outputGist(out string, code int) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	status := ""
	if code != 0 {
		status = fmt.Sprintf(", exit status %d", code)
	}
	switch len(lines) {
	case 0:
		return "no output" + status
	case 1:
		return fmt.Sprintf("the output%s: %s", status, shorten(lines[0], 100))
	}
	return fmt.Sprintf("%d lines of output%s, the last: %s", len(lines), status, shorten(lines[len(lines)-1], 100))
}

// runTimeout is RunTimeout; tests shorten it.
var runTimeout = RunTimeout

// maxOutput bounds how much of a command's output a check reads.
const maxOutput = 1 << 20

// exec runs argv in the node with its output in a memory file (which a
// daemon the command leaves behind may keep open without holding us) and
// returns the output and exit status. The command is killed after timeout
// or when ctx ends.
func (ev *evaluator) exec(ctx context.Context, name string, argv []string, timeout time.Duration) (string, int, error) {
	t, err := ev.target(name)
	if err != nil {
		return "", 0, err
	}
	fd, err := unix.MemfdCreate("topo-check", unix.MFD_CLOEXEC)
	if err != nil {
		return "", 0, fmt.Errorf("output buffer: %w", err)
	}
	out := os.NewFile(uintptr(fd), "output")
	defer out.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return "", 0, err
	}
	defer null.Close()

	sigs := make(chan os.Signal, 1)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	stop := make(chan struct{})
	defer close(stop)
	var timedOut bool
	var mu sync.Mutex
	go func() {
		select {
		case <-timer.C:
			mu.Lock()
			timedOut = true
			mu.Unlock()
		case <-ctx.Done():
		case <-stop:
			return
		}
		sigs <- syscall.SIGKILL
	}()
	code, err := Exec(t, node.Cmd{
		Argv:   argv,
		Env:    []string{"LC_ALL=C", "TOPO_LAB=" + t.Lab, "TOPO_NODE=" + t.Node},
		Dir:    "/",
		Stdin:  null,
		Stdout: out,
		Stderr: out,
		// Signals go to the command's process group.
		Signals: sigs,
	})
	if err != nil {
		return "", code, fmt.Errorf("%s: %w", name, err)
	}
	mu.Lock()
	to := timedOut
	mu.Unlock()
	if to {
		return "", code, fmt.Errorf("timed out after %v", timeout)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", code, err
	}
	b, err := io.ReadAll(io.LimitReader(out, maxOutput))
	if err != nil {
		return "", code, err
	}
	return string(b), code, nil
}

// route looks for the check's route in the node's main routing table.
func (ev *evaluator) route(c *Check) (bool, string) {
	p, ok := ev.st.Nodes[c.Node]
	if !ok || !p.Alive() {
		return false, fmt.Sprintf("node %s is not running", c.Node)
	}
	ns, err := link.OpenNS(p.NetNSPath())
	if err != nil {
		return false, err.Error()
	}
	defer ns.Close()
	h := ns.Handle()
	family := netlink.FAMILY_V4
	if c.Prefix.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	routes, err := link.RetryDump(func() ([]netlink.Route, error) { return h.RouteList(nil, family) })
	if err != nil {
		return false, fmt.Sprintf("read routes of %s: %v", c.Node, err)
	}
	links, err := link.RetryDump(h.LinkList)
	if err != nil {
		return false, fmt.Sprintf("read interfaces of %s: %v", c.Node, err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var same []netlink.Route // routes for the prefix
	for _, r := range routes {
		if routeDst(r) == c.Prefix {
			same = append(same, r)
		}
	}
	for _, r := range same {
		if routeMatches(c, r, names) {
			return !c.Not, describeRoute(r, names)
		}
	}
	if len(same) > 0 {
		d := make([]string, len(same))
		for i, r := range same {
			d[i] = describeRoute(r, names)
		}
		return c.Not, strings.Join(d, "; ")
	}
	seen := "no route for " + c.Prefix.String()
	if c.Prefix.Bits() == 0 {
		seen = "no default route"
	} else if got, err := h.RouteGet(net.IP(c.Prefix.Addr().AsSlice())); err == nil && len(got) > 0 {
		g := got[0]
		via := ""
		if g.Gw != nil {
			via = " via " + g.Gw.String()
		}
		seen += fmt.Sprintf(" (%s would go%s dev %s)", c.Prefix.Addr(), via, names[g.LinkIndex])
	} else if err != nil {
		seen += fmt.Sprintf(" (%s: %v)", c.Prefix.Addr(), err)
	}
	return c.Not, seen
}

// routeDst is a route's destination; the kernel leaves it out for default
// routes.
func routeDst(r netlink.Route) netip.Prefix {
	if r.Dst == nil {
		if r.Family == netlink.FAMILY_V6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(r.Dst.IP)
	ones, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

// nexthop is one way a route goes.
type nexthop struct {
	gw  netip.Addr
	dev int
}

func nexthops(r netlink.Route) []nexthop {
	if len(r.MultiPath) == 0 {
		a, _ := netip.AddrFromSlice(r.Gw)
		return []nexthop{{a.Unmap(), r.LinkIndex}}
	}
	out := make([]nexthop, len(r.MultiPath))
	for i, nh := range r.MultiPath {
		a, _ := netip.AddrFromSlice(nh.Gw)
		out[i] = nexthop{a.Unmap(), nh.LinkIndex}
	}
	return out
}

// routeMatches reports whether r is the route c looks for: any of its next
// hops may be the one named.
func routeMatches(c *Check, r netlink.Route, names map[int]string) bool {
	if c.Proto != "" && c.Proto != r.Protocol.String() && c.Proto != strconv.Itoa(int(r.Protocol)) {
		return false
	}
	if !c.Via.IsValid() && c.Dev == "" {
		return true
	}
	for _, nh := range nexthops(r) {
		if (!c.Via.IsValid() || nh.gw == c.Via) && (c.Dev == "" || names[nh.dev] == c.Dev) {
			return true
		}
	}
	return false
}

// describeRoute writes a route as ip route does.
func describeRoute(r netlink.Route, names map[int]string) string {
	dst := routeDst(r)
	s := dst.String()
	if dst.Bits() == 0 {
		s = "default"
	}
	var hops []string
	for _, nh := range nexthops(r) {
		h := ""
		if nh.gw.IsValid() {
			h = "via " + nh.gw.String() + " "
		}
		hops = append(hops, h+"dev "+names[nh.dev])
	}
	if len(hops) == 1 {
		s += " " + hops[0]
	} else {
		s += " nexthops " + strings.Join(hops, ", ")
	}
	s += " proto " + r.Protocol.String()
	if r.Priority > 0 {
		s += " metric " + strconv.Itoa(r.Priority)
	}
	return s
}
