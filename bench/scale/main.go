// Command scale measures how topo's up and down grow with the size of a
// lab, side by side, in the same run, with the raw kernel path (ip -batch)
// and with Mininet (Linux-bridge switches, no controller) where installed.
// It prints figures and ratios; it asserts nothing. Run as root:
//
//	go run ./bench/scale -topo bin/topo -sizes 10,100,500,1000
//
// Everything it creates it removes: its own state root for topo, its own
// tb-prefixed namespaces and bridges for ip, and Mininet's own stop().
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	topoBin := flag.String("topo", "bin/topo", "the topo binary to measure")
	sizes := flag.String("sizes", "10,100,500,1000", "lab sizes (nodes)")
	shapes := flag.String("shapes", "star,chain,tree", "topologies: star (N hosts on one bridge), chain (N routers in a line), tree (binary tree of N routers)")
	mnMax := flag.Int("mininet-max", 500, "largest size to run Mininet on (it is slow); 0 skips Mininet")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "scale: run as root")
		os.Exit(2)
	}
	bin, err := filepath.Abs(*topoBin)
	if err != nil {
		fail(err)
	}
	haveMN := *mnMax > 0 && mininetAvailable()
	work, err := os.MkdirTemp("", "topo-scale")
	if err != nil {
		fail(err)
	}
	// Removed at the end, and by fail too, with any lab left in it.
	atExit = append(atExit, func() {
		c := exec.Command(bin, "down", "--all", "--wait")
		c.Env = append(os.Environ(), "TOPO_STATE_DIR="+filepath.Join(work, "state"))
		_ = c.Run()
		os.RemoveAll(work)
	})
	// ip netns add makes /run/netns a mount point: undo that at the end
	// when it was not one before.
	if !mountPoint("/run/netns") {
		_, statErr := os.Stat("/run/netns")
		atExit = append(atExit, func() {
			if mountPoint("/run/netns") {
				_ = syscall.Unmount("/run/netns", syscall.MNT_DETACH)
			}
			if statErr != nil {
				_ = os.Remove("/run/netns")
			}
		})
	}
	defer func() {
		for _, f := range atExit {
			f()
		}
	}()
	quiet = rtnlCost()
	// Namespaces are destroyed by the kernel after down returns, topo's
	// and ip's alike, and that work holds the rtnl lock and slows whatever
	// comes next: each measurement starts on a settled kernel.
	settle := func() {
		time.Sleep(time.Second) // the probe below misses the first second's work
		settled()
	}
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d cores, %s; load %s\n", host, numCPU(), kernel(), loadavg())
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "shape\tN\ttopo up\tdown\t--wait\tper node\tpeak RSS\tPSS/node\tip up\tdown\tup x\tdown x\tmn up\tdown\tup x\tdown x\t")
	perNode := map[string]map[int]time.Duration{}
	for _, shape := range strings.Split(*shapes, ",") {
		perNode[shape] = map[int]time.Duration{}
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 2 {
				fail(fmt.Errorf("bad size %q", s))
			}
			g := build(shape, n)
			// Small labs take milliseconds, where one run says little
			// on a shared machine: take the median of several, for topo
			// and ip alike.
			reps := 1
			switch {
			case n <= 10:
				reps = 7
			case n <= 100:
				reps = 3
			}
			var ts, ips []result
			for range reps {
				settle()
				t, err := measureTopo(bin, work, g)
				if err != nil {
					fail(fmt.Errorf("topo %s %d: %w", shape, n, err))
				}
				settle()
				ip, err := measureIP(work, g)
				if err != nil {
					fail(fmt.Errorf("ip %s %d: %w", shape, n, err))
				}
				ts, ips = append(ts, t), append(ips, ip)
			}
			t, ip := median(ts), median(ips)
			per := t.up / time.Duration(len(g.nodes))
			perNode[shape][n] = per
			row := []string{shape, strconv.Itoa(n), secs(t.up), secs(t.down), secs(t.downWait), ms(per),
				fmt.Sprintf("%.0f MiB", float64(t.peakKB)/1024), fmt.Sprintf("%d KiB", t.pssKB),
				secs(ip.up), secs(ip.down), ratio(t.up, ip.up), ratio(t.down, ip.down)}
			if haveMN && n <= *mnMax {
				settle()
				mn, err := measureMininet(work, g)
				if err != nil {
					fail(fmt.Errorf("mininet %s %d: %w", shape, n, err))
				}
				row = append(row, secs(mn.up), secs(mn.down), ratio(mn.up, t.up), ratio(mn.down, t.down))
			} else {
				row = append(row, "-", "-", "-", "-")
			}
			fmt.Fprintln(w, strings.Join(row, "\t")+"\t")
			fmt.Fprintf(os.Stderr, "%s %d: topo up %s down %s\n", shape, n, secs(t.up), secs(t.down))
		}
	}
	w.Flush()
	fmt.Println()
	fmt.Println("Both downs return before the kernel has reclaimed everything: ip's once the namespaces are unnamed, topo's once the lab's init has the nodes to end.")
	fmt.Println("--wait: topo down --wait, until every process of the lab has exited.")
	fmt.Println("up x, down x: topo's time over ip -batch's (below 1 is faster than the raw path);")
	fmt.Println("mn up x, down x: Mininet's time over topo's (above 1 is how many times topo is faster).")
	for shape, m := range perNode {
		if a, b := m[100], m[1000]; a > 0 && b > 0 {
			fmt.Printf("%s: time per node at N=1000 is %.2fx that at N=100\n", shape, float64(b)/float64(a))
		}
	}
}

// graph is a generated topology: nodes (with kinds) and links between them.
type graph struct {
	name  string
	nodes []gnode
	links [][2]int
}

type gnode struct {
	name   string
	bridge bool
}

func build(shape string, n int) graph {
	g := graph{name: fmt.Sprintf("%s%d", shape, n)}
	switch shape {
	case "star":
		g.nodes = append(g.nodes, gnode{"sw", true})
		for i := 0; i < n; i++ {
			g.nodes = append(g.nodes, gnode{fmt.Sprintf("h%d", i), false})
			g.links = append(g.links, [2]int{i + 1, 0})
		}
	case "chain", "tree":
		for i := 0; i < n; i++ {
			g.nodes = append(g.nodes, gnode{fmt.Sprintf("r%d", i), false})
			if i > 0 {
				parent := i - 1
				if shape == "tree" {
					parent = (i - 1) / 2
				}
				g.links = append(g.links, [2]int{parent, i})
			}
		}
	default:
		fail(fmt.Errorf("unknown shape %q", shape))
	}
	return g
}

// dot writes the graph as a topo lab: routers for chains and trees, a
// bridge for the star, automatic addresses.
func (g graph) dot() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s {\n subnet=\"10.0.0.0/8\"\n", g.name)
	for _, n := range g.nodes {
		kind := "router"
		if n.bridge {
			kind = "bridge"
		} else if g.nodes[0].bridge {
			kind = "host"
		}
		fmt.Fprintf(&b, " %s [kind=%s]\n", n.name, kind)
	}
	for _, l := range g.links {
		fmt.Fprintf(&b, " %s -- %s\n", g.nodes[l[0]].name, g.nodes[l[1]].name)
	}
	b.WriteString("}\n")
	return b.String()
}

type result struct {
	up, down time.Duration
	// downWait is topo down --wait: until every process of the lab has
	// exited.
	downWait time.Duration
	peakKB   int64
	pssKB    int64
}

// median is the median of each figure of rs (the largest peak RSS).
func median(rs []result) result {
	mid := func(f func(r result) time.Duration) time.Duration {
		var ds []time.Duration
		for _, r := range rs {
			ds = append(ds, f(r))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	out := result{
		up:       mid(func(r result) time.Duration { return r.up }),
		down:     mid(func(r result) time.Duration { return r.down }),
		downWait: mid(func(r result) time.Duration { return r.downWait }),
		pssKB:    int64(mid(func(r result) time.Duration { return time.Duration(r.pssKB) })),
	}
	for _, r := range rs {
		out.peakKB = max(out.peakKB, r.peakKB)
	}
	return out
}

func measureTopo(bin, work string, g graph) (result, error) {
	var r result
	root := filepath.Join(work, "state")
	file := filepath.Join(work, g.name+".dot")
	if err := os.WriteFile(file, []byte(g.dot()), 0o644); err != nil {
		return r, err
	}
	env := append(os.Environ(), "TOPO_STATE_DIR="+root)
	run := func(args ...string) (time.Duration, int64, error) {
		c := exec.Command(bin, args...)
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		t := time.Now()
		err := c.Run()
		d := time.Since(t)
		if err != nil {
			return d, 0, fmt.Errorf("%v: %w\n%s", args, err, out.String())
		}
		return d, c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
	}
	var err error
	if r.up, r.peakKB, err = run("up", file); err != nil {
		return r, err
	}
	state := filepath.Join(root, g.name, "lab.json")
	r.pssKB = pssPerNode(state)
	var peak int64
	if r.down, peak, err = run("down", g.name); err != nil {
		return r, err
	}
	r.peakKB = max(r.peakKB, peak)
	// Again, to time down --wait on a settled machine.
	settled()
	if _, _, err = run("up", file); err != nil {
		return r, err
	}
	settled()
	if r.downWait, _, err = run("down", "--wait", g.name); err != nil {
		return r, err
	}
	return r, nil
}

// pssPerNode averages the proportional set size of a lab's node inits.
func pssPerNode(state string) int64 {
	b, err := os.ReadFile(state)
	if err != nil {
		return 0
	}
	var st struct {
		Nodes map[string]struct{ PID int }
	}
	if json.Unmarshal(b, &st) != nil || len(st.Nodes) == 0 {
		return 0
	}
	var total int64
	for _, p := range st.Nodes {
		f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", p.PID))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb
			}
		}
		f.Close()
	}
	return total / int64(len(st.Nodes))
}

// measureIP builds the same topology the way a shell script closest to the
// kernel would: one ip -batch for namespaces, bridges (in the host's
// namespace) and veth pairs, and one ip -n NS -batch per namespace for its
// addresses and links up (ip's batch mode cannot switch namespaces).
func measureIP(work string, g graph) (result, error) {
	var r result
	ns := func(i int) string { return fmt.Sprintf("tb%d", i) }
	var up, down bytes.Buffer
	perNS := map[int]*bytes.Buffer{}
	nsb := func(i int) *bytes.Buffer {
		if perNS[i] == nil {
			perNS[i] = &bytes.Buffer{}
			perNS[i].WriteString("link set lo up\n")
		}
		return perNS[i]
	}
	for i, n := range g.nodes {
		if n.bridge {
			fmt.Fprintf(&up, "link add tbbr%d type bridge\nlink set tbbr%d up\n", i, i)
			fmt.Fprintf(&down, "link del tbbr%d\n", i)
			continue
		}
		fmt.Fprintf(&up, "netns add %s\n", ns(i))
		fmt.Fprintf(&down, "netns del %s\n", ns(i))
		nsb(i)
	}
	ifn := map[int]int{}
	for k, l := range g.links {
		a, b := l[0], l[1]
		ia, ib := ifn[a], ifn[b]
		ifn[a]++
		ifn[b]++
		// Addresses from 10.0.0.0/8, a /30 per link as topo's planner does.
		base := 4 * k
		addr := func(h int) string { return fmt.Sprintf("10.%d.%d.%d/30", base>>16&255, base>>8&255, base&255+h) }
		switch {
		case g.nodes[b].bridge:
			fmt.Fprintf(&up, "link add tbv%d type veth peer name eth%d netns %s\n", k, ia, ns(a))
			fmt.Fprintf(&up, "link set tbv%d master tbbr%d up\n", k, b)
			fmt.Fprintf(nsb(a), "addr add 10.%d.%d.%d/16 dev eth%d\nlink set eth%d up\n", 0, (a>>8)&255, a&255, ia, ia)
		default:
			fmt.Fprintf(&up, "link add eth%d netns %s type veth peer name eth%d netns %s\n", ia, ns(a), ib, ns(b))
			fmt.Fprintf(nsb(a), "addr add %s dev eth%d\nlink set eth%d up\n", addr(1), ia, ia)
			fmt.Fprintf(nsb(b), "addr add %s dev eth%d\nlink set eth%d up\n", addr(2), ib, ib)
		}
	}
	runBatch := func(args []string, script []byte) error {
		c := exec.Command("ip", append(args, "-batch", "-")...)
		c.Stdin = bytes.NewReader(script)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %w\n%s", args, err, out)
		}
		return nil
	}
	t := time.Now()
	err := runBatch(nil, up.Bytes())
	for i, b := range perNS {
		if err != nil {
			break
		}
		err = runBatch([]string{"-n", ns(i)}, b.Bytes())
	}
	r.up = time.Since(t)
	// Teardown always runs: it removes whatever the up made.
	t = time.Now()
	c := exec.Command("ip", "-force", "-batch", "-")
	c.Stdin = bytes.NewReader(down.Bytes())
	_ = c.Run()
	r.down = time.Since(t)
	return r, err
}

// rtnlCost is the best of three times to make the namespaces a node has and
// a dummy interface in them: it waits on what the kernel holds while it
// destroys namespaces (the rtnl lock among others).
// quiet is rtnlCost on the idle machine, measured at the start.
var quiet time.Duration

// settled waits until the kernel has finished what a teardown left it
// (destroying namespaces, which ip netns del and process exit hand to a
// kernel worker), as far as probes tell: two in a row as cheap as on the
// idle machine. It returns how long that took.
func settled() time.Duration {
	t := time.Now()
	var first time.Duration = -1
	for range 3000 {
		at := time.Since(t)
		if probe() < quiet*3/2+time.Millisecond {
			if first >= 0 {
				return first
			}
			first = at
		} else {
			first = -1
		}
	}
	return time.Since(t)
}

func rtnlCost() time.Duration {
	best := time.Hour
	for range 3 {
		best = min(best, probe())
	}
	return best
}

// mountPoint says whether path is a mount point in this mount namespace.
func mountPoint(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// probe times making the namespaces a node has, a fresh /proc, and a dummy
// interface in them.
func probe() time.Duration {
	t := time.Now()
	if err := exec.Command("unshare", "-n", "-m", "-u", "-i", "-p", "-f", "--mount-proc", "ip", "link", "add", "probe0", "type", "dummy").Run(); err != nil {
		return 0
	}
	return time.Since(t)
}

func mininetAvailable() bool {
	err := exec.Command("/usr/bin/python3", "-c", "import mininet.net, mininet.nodelib").Run()
	return err == nil
}

// measureMininet builds the same topology in Mininet with Linux-bridge
// switches and no controller, and times build+start and stop. Up counts
// from the start of the Python process, as topo's counts from the start of
// topo: a user waits for the interpreter and the imports too.
func measureMininet(work string, g graph) (result, error) {
	var r result
	var b strings.Builder
	b.WriteString(`import sys, time
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.log import setLogLevel
setLogLevel('error')
net = Mininet(switch=LinuxBridge, controller=None, build=False, autoSetMacs=True)
n = {}
`)
	for i, nd := range g.nodes {
		if nd.bridge {
			fmt.Fprintf(&b, "n[%d] = net.addSwitch('s%d')\n", i, i+1)
		} else {
			fmt.Fprintf(&b, "n[%d] = net.addHost('h%d')\n", i, i+1)
		}
	}
	for _, l := range g.links {
		fmt.Fprintf(&b, "net.addLink(n[%d], n[%d])\n", l[0], l[1])
	}
	b.WriteString(`net.build(); net.start(); upAt = time.time()
t = time.time(); net.stop(); down = time.time() - t
print(repr(upAt), down)
`)
	script := filepath.Join(work, g.name+".py")
	if err := os.WriteFile(script, []byte(b.String()), 0o644); err != nil {
		return r, err
	}
	start := time.Now()
	out, err := exec.Command("/usr/bin/python3", script).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, out)
	}
	f := strings.Fields(strings.TrimSpace(string(out)))
	if len(f) < 2 {
		return r, fmt.Errorf("mininet said %q", out)
	}
	upAt, _ := strconv.ParseFloat(f[len(f)-2], 64)
	d, _ := strconv.ParseFloat(f[len(f)-1], 64)
	r.up = time.UnixMicro(int64(upAt * 1e6)).Sub(start)
	r.down = time.Duration(d * float64(time.Second))
	return r, nil
}

func secs(d time.Duration) string {
	if d < 100*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// atExit undoes what the run changed on the host; fail runs it too.
var atExit []func()

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	for _, f := range atExit {
		f()
	}
	os.Exit(1)
}
