package topo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
	"golang.org/x/sys/unix"
)

// Progress says how far up or down has come: Done of Total steps of Stage.
type Progress struct {
	Stage       string
	Done, Total int
}

// Options tune Up and Down.
type Options struct {
	// Root is the state root; "" means StateRoot().
	Root string
	// Progress, when not nil, is called as work advances (from several
	// goroutines, never at once).
	Progress func(Progress)
	// Workers bounds concurrent kernel work; 0 picks a default.
	Workers int
	// Wait makes Down return only once every process of the lab has
	// exited, instead of once their end is under way.
	Wait bool
	// failAfter, for tests, fails the link stage after that many links.
	failAfter int
}

func (o *Options) root() string {
	if o.Root != "" {
		return o.Root
	}
	return StateRoot()
}

func (o *Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return max(4, 4*runtime.NumCPU())
}

// Interface indexes are chosen by topo, so that addresses and routes need no
// lookups: a bridge node's bridge is bridgeIndex, a node's interfaces follow
// in order from firstIfIndex. They start above the fallback tunnel devices
// (gre0, sit0, ...) that some kernels put in every new namespace.
const (
	bridgeIndex  = 10
	firstIfIndex = 11
	// BridgeName is the name of the bridge inside a bridge node.
	BridgeName = "br0"
)

// ErrRunning is returned by Up when a lab of that name already exists.
var ErrRunning = errors.New("lab already exists")

// Up brings up the lab: a node (init process and namespaces) per node, a
// veth pair per link, a bridge in each bridge node, addresses and routes,
// then starts every node's exec lines. It runs in the host's namespaces and
// creates nothing there. On any error, or when ctx is cancelled, it removes
// everything it created before returning. If the process dies midway, the
// lab's state folder and the inits' command lines let Down finish the job.
func Up(ctx context.Context, lab *Lab, opt Options) (err error) {
	if err := preflight(lab); err != nil {
		return err
	}
	root := opt.root()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	dir := labDir(root, lab.Name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("lab %q %w: topo down %s removes it, or topo up --name NAME runs another copy", lab.Name, ErrRunning, lab.Name)
		}
		return fmt.Errorf("state folder: %w", err)
	}
	unlock, err := lock(ctx, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	defer unlock()

	u := &upper{
		lab: lab, opt: opt, dir: dir,
		st:    &State{Lab: lab, Phase: PhaseStarting, Created: time.Now().UTC(), Nodes: map[string]node.Proc{}, dir: dir},
		procs: make([]node.Proc, len(lab.Nodes)),
		nss:   make([]*link.NS, len(lab.Nodes)),
		index: map[string]int{},
	}
	for i, n := range lab.Nodes {
		u.index[n.Name] = i
	}
	defer u.closeNS()
	defer func() {
		if err != nil {
			// Undo under a fresh context: the caller's may be cancelled.
			rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if rerr := u.rollback(rctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w (topo down %s finishes it)", rerr, lab.Name))
			}
		}
	}()
	if err := os.Mkdir(nodeDir(root, lab.Name), 0o700); err != nil {
		return err
	}
	if u.init, err = node.StartLab(ctx, nodeDir(root, lab.Name)); err != nil {
		return err
	}
	defer u.init.Close()
	u.st.Init = u.init.Proc
	if err := u.st.save(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(HostsFile(lab)), 0o644); err != nil {
		return fmt.Errorf("write hosts: %w", err)
	}
	if err := u.prepareImages(); err != nil {
		return err
	}
	if err := u.startNodes(ctx); err != nil {
		return err
	}
	if err := u.init.Ready(); err != nil {
		return err
	}
	// topo exec can reach the nodes from now on, while links are made.
	started := make(map[string]node.Proc, len(lab.Nodes))
	for i, n := range lab.Nodes {
		started[n.Name] = u.procs[i]
	}
	if err := writeInits(dir, started); err != nil {
		return err
	}
	if err := u.addLinks(ctx); err != nil {
		return err
	}
	if err := u.addRoutes(ctx); err != nil {
		return err
	}
	for i, n := range lab.Nodes {
		u.st.Nodes[n.Name] = u.procs[i]
	}
	u.st.Phase = PhaseUp
	if err := u.st.save(); err != nil {
		return err
	}
	if !slices.ContainsFunc(lab.Nodes, func(n *Node) bool { return n.Image != "" }) {
		if err := writeLabInit(dir, u.init.Proc); err != nil {
			return err
		}
	}
	for _, n := range lab.Nodes {
		if len(n.Exec) == 0 {
			continue
		}
		if err := node.RunScript(u.procs[u.index[n.Name]], n.Exec); err != nil {
			return fmt.Errorf("node %s: start exec lines: %w", n.Name, err)
		}
	}
	return nil
}

// upper holds the work in progress of one Up.
type upper struct {
	lab   *Lab
	opt   Options
	dir   string
	st    *State
	init  *node.LabInit
	procs []node.Proc // by node position; zero until started
	nss   []*link.NS
	index map[string]int // node name -> position
	// images maps an image tarball to the folder it was unpacked in.
	images map[string]string
}

// prepareImages unpacks each image tarball of the lab once, into the lab's
// state folder, for all the nodes that use it.
func (u *upper) prepareImages() error {
	u.images = map[string]string{}
	for _, n := range u.lab.Nodes {
		if n.Image == "" || !node.IsTarball(n.Image) {
			continue
		}
		if _, ok := u.images[n.Image]; ok {
			continue
		}
		dir := filepath.Join(u.dir, "images", fmt.Sprint(len(u.images)))
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return err
		}
		if err := node.ExtractImage(n.Image, dir); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		u.images[n.Image] = dir
	}
	return nil
}

func (u *upper) progress(stage string, done, total int) {
	if u.opt.Progress != nil && stage != "" {
		u.opt.Progress(Progress{stage, done, total})
	}
}

func (u *upper) startNodes(ctx context.Context) error {
	nd := u.st.NodeDir()
	hosts := filepath.Join(u.dir, "hosts")
	v6 := u.lab.UsesIPv6()
	err := u.parallel(ctx, "nodes", len(u.lab.Nodes), func(i int) error {
		n := u.lab.Nodes[i]
		cfg := node.Config{
			Lab: u.lab.Name, Name: n.Name, HostsFile: hosts, Env: n.Env,
			Forward: n.Kind == KindRouter,
			NoIPv6:  !v6 || n.Kind == KindBridge,
			Image:   n.Image,
			UserNS:  n.UserNS,
			// A time namespace only where asked: its spawner thread
			// is what every command of the node is forked from.
			ClockOffset: n.ClockOffset,
		}
		if dir, ok := u.images[n.Image]; ok {
			cfg.Image = dir
		}
		for _, m := range n.Mounts {
			cfg.Mounts = append(cfg.Mounts, node.Mount{Src: m.Src, Dst: m.Dst, ReadOnly: m.ReadOnly})
		}
		for _, s := range n.Sysctls {
			cfg.Sysctls = append(cfg.Sysctls, node.Sysctl{Key: s.Key, Value: s.Value})
		}
		p, err := u.init.StartNode(ctx, nd, cfg)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		u.procs[i] = p
		return nil
	})
	if err != nil {
		return err
	}
	// The namespace handles (a descriptor and a netlink socket each) are
	// opened once every init has started: each start copies topo's
	// descriptor table into the new process and closes it again at exec,
	// which would make starting N nodes cost N*N.
	return u.parallel(ctx, "", len(u.lab.Nodes), func(i int) error {
		n := u.lab.Nodes[i]
		ns, err := link.OpenNS(u.procs[i].NetNSPath())
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		u.nss[i] = ns
		if n.Kind == KindBridge {
			if _, err := ns.AddBridge(BridgeName, bridgeIndex, 0); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		return nil
	})
}

// end describes one end of l for the link package.
func (u *upper) end(e Endpoint) link.End {
	i := u.index[e.Node]
	n := u.lab.Nodes[i]
	out := link.End{NS: u.nss[i], Name: e.Iface}
	for j, ifc := range n.Ifaces {
		if ifc.Name == e.Iface {
			out.Index = firstIfIndex + j
			out.MAC = mustMAC(ifc.MAC)
			out.Addrs = ifc.Addrs
		}
	}
	if n.Kind == KindBridge {
		out.Master = bridgeIndex
	}
	return out
}

func (u *upper) addLinks(ctx context.Context) error {
	var made atomic.Int64
	return u.parallel(ctx, "links", len(u.lab.Links), func(i int) error {
		l := u.lab.Links[i]
		if u.opt.failAfter > 0 && made.Add(1) > int64(u.opt.failAfter) {
			return fmt.Errorf("link %s: injected failure", l)
		}
		v := link.Veth{A: u.end(l.A), B: u.end(l.B), MTU: l.MTU, Down: l.Down}
		// The kernel makes only the requested end a bridge port at
		// creation: put a bridge end first.
		if v.A.Master == 0 && v.B.Master != 0 {
			v.A, v.B = v.B, v.A
		}
		if err := link.AddVeth(v); err != nil {
			return fmt.Errorf("link %s: %w", l, err)
		}
		if err := u.impair(l, v); err != nil {
			return fmt.Errorf("link %s: %w", l, err)
		}
		return nil
	})
}

func (u *upper) addRoutes(ctx context.Context) error {
	down := map[Endpoint]bool{}
	for _, l := range u.lab.Links {
		if l.Down {
			down[l.A], down[l.B] = true, true
		}
	}
	return u.parallel(ctx, "routes", len(u.lab.Nodes), func(i int) error {
		n := u.lab.Nodes[i]
		for _, r := range n.Routes {
			// The kernel keeps no route through a link that is down;
			// topo link up adds it when the link comes up.
			if throughDown(n, r, down) {
				continue
			}
			lr := link.Route{Dst: r.Dst, Via: r.Via, Metric: r.Metric}
			if r.Dev != "" {
				for j, ifc := range n.Ifaces {
					if ifc.Name == r.Dev {
						lr.DevIndex = firstIfIndex + j
					}
				}
			}
			if err := u.nss[i].AddRoute(lr); err != nil {
				return fmt.Errorf("node %s: route %q: %w", n.Name, r.Text, err)
			}
		}
		return nil
	})
}

// throughDown reports whether route r of node n leaves through an
// interface whose link is down.
func throughDown(n *Node, r Route, down map[Endpoint]bool) bool {
	for _, ifc := range n.Ifaces {
		if !down[Endpoint{n.Name, ifc.Name}] {
			continue
		}
		if r.Dev == ifc.Name {
			return true
		}
		for _, a := range ifc.Addrs {
			if r.Via.IsValid() && a.Masked().Contains(r.Via) {
				return true
			}
		}
	}
	return false
}

func (u *upper) closeNS() {
	for _, ns := range u.nss {
		_ = ns.Close()
	}
}

// rollback ends every init this Up started (found by the record and by
// their command lines, in case one started but was not recorded) and removes
// the state folder.
func (u *upper) rollback(ctx context.Context) error {
	u.closeNS()
	procs := u.procs
	if u.init != nil {
		procs = append([]node.Proc{u.init.Proc}, procs...)
	}
	return removeLab(ctx, u.dir, procs)
}

// removeLab kills the given inits and any other init of the lab folder, then
// removes the folder.
func removeLab(ctx context.Context, dir string, procs []node.Proc) error {
	return removeLabInits(ctx, dir, procs, true, endWait)
}

// ending is how removeLabInits ends a lab's inits.
type ending int

const (
	endWait ending = iota // kill them and wait until they have exited
	endKill               // kill them and return (node.Doom)
	endLab                // ask the lab init, procs[0], to end its lab (node.EndLab)
)

// removeLabInits is removeLab; scan false trusts procs to be every init of
// the lab, or its lab init, sparing a read of every process's command line.
func removeLabInits(ctx context.Context, dir string, procs []node.Proc, scan bool, how ending) error {
	serr := stopSchedules(ctx, dir)
	var all []node.Proc
	for _, p := range procs {
		if p.PID > 0 {
			all = append(all, p)
		}
	}
	var kerr error
	if how == endLab && !scan && len(all) == 1 {
		var ended bool
		ended, kerr = node.EndLab(all[0])
		if !ended && kerr == nil {
			// Not the lab init the state names (it is gone, and the
			// lab with it, or the state is wrong): find the lab's inits
			// by their command lines.
			scan, how, all = true, endKill, nil
		}
	}
	var ferr error
	if scan {
		var found []node.Proc
		found, ferr = node.FindInits(filepath.Join(dir, "nodes"))
		seen := map[int]bool{}
		for _, p := range all {
			seen[p.PID] = true
		}
		for _, p := range found {
			if !seen[p.PID] {
				all = append(all, p)
			}
		}
	}
	switch how {
	case endLab:
	case endWait:
		kerr = node.Kill(ctx, all)
	default:
		kerr = node.Doom(all)
	}
	if serr != nil || ferr != nil || kerr != nil {
		return errors.Join(serr, ferr, kerr)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

// parallel runs f for 0..n-1 on a bounded pool, reporting progress under
// stage. It stops handing out work at the first error or when ctx ends and
// returns the first error.
func (u *upper) parallel(ctx context.Context, stage string, n int, f func(i int) error) error {
	var (
		next, done atomic.Int64
		mu         sync.Mutex
		first      error
		wg         sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	var pmu sync.Mutex
	u.progress(stage, 0, n)
	for range min(n, u.opt.workers()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed() {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				if err := f(i); err != nil {
					fail(err)
					return
				}
				d := int(done.Add(1))
				pmu.Lock()
				u.progress(stage, d, n)
				pmu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// lock takes the lab's lock file, which serialises up and down of one lab.
// It waits while another topo holds it, until ctx ends.
func lock(ctx context.Context, dir string) (func(), error) {
	unlock, err := flockWait(ctx, filepath.Join(dir, lockFile))
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		return nil, fmt.Errorf("lab %s is busy: another topo is bringing it up or down", filepath.Base(dir))
	}
	return unlock, err
}

// flockWait takes an exclusive flock on path (created if missing), waiting
// while another process holds it, until ctx ends. The returned func
// releases it.
func flockWait(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Down ends every process of the lab called name and removes its state.
// It returns once that end is under way: a lab that came all the way up is
// handed to its lab init, which ends the nodes one after another after
// Down has returned (node.EndLab), and the inits of any other lab are
// killed (node.Doom); the kernel then frees their namespaces and
// interfaces in the background, as it does after ip netns del. With
// opt.Wait, and for a lab with image nodes (whose overlay layers are in
// the state folder), it returns once every process of the lab has exited.
// It works on a lab that topo up left half made (killed, or Ctrl-C), and
// on one whose nodes already died. It waits for a concurrent up or down of
// the same lab to finish.
func Down(ctx context.Context, name string, opt Options) error {
	root := opt.root()
	dir := labDir(root, name)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("lab %q: %w (topo ls lists the running labs)", name, ErrNoLab)
	}
	unlock, err := lock(ctx, dir)
	if err != nil {
		return err
	}
	defer unlock()
	if p, ok := readLabInit(dir); ok && !opt.Wait {
		if err := removeLabInits(ctx, dir, []node.Proc{p}, false, endLab); err != nil {
			return fmt.Errorf("lab %s: %w", name, err)
		}
		return nil
	}
	st, err := ReadState(root, name)
	if err != nil && !errors.Is(err, ErrNoLab) {
		// An unreadable state must not keep a lab alive: inits are found
		// by their command lines anyway.
		st = &State{dir: dir}
	}
	var procs []node.Proc
	// A lab that came all the way up is ended by ending its lab init, in
	// whose PID namespace every node is. Any other (a killed up, a down cut
	// short, a lab of a topo from before lab inits) has its inits ended
	// one by one, those in its state and those found by command line.
	scan := true
	how := endKill
	if opt.Wait {
		how = endWait
	}
	if st != nil {
		// Image nodes keep their overlay's layers in the state folder:
		// remove it only once they have exited.
		if st.Lab != nil && slices.ContainsFunc(st.Lab.Nodes, func(n *Node) bool { return n.Image != "" }) {
			how = endWait
		}
		complete := st.Phase == PhaseUp && st.Lab != nil && len(st.Nodes) == len(st.Lab.Nodes)
		if complete && st.Init.PID > 0 {
			procs = []node.Proc{st.Init}
			scan = false
			if how == endKill {
				how = endLab
			}
		} else {
			scan = !complete
			if st.Lab != nil && st.Nodes != nil {
				st.Phase = PhaseStopping
				_ = st.save()
			}
			if st.Init.PID > 0 {
				procs = append(procs, st.Init)
			}
			for _, p := range st.Nodes {
				procs = append(procs, p)
			}
		}
	}
	nodes := len(procs)
	if st != nil {
		nodes = max(nodes, len(st.Nodes))
	}
	if opt.Progress != nil {
		opt.Progress(Progress{"nodes", 0, nodes})
	}
	if err := removeLabInits(ctx, dir, procs, scan, how); err != nil {
		return fmt.Errorf("lab %s: %w", name, err)
	}
	if opt.Progress != nil {
		opt.Progress(Progress{"nodes", nodes, nodes})
	}
	return nil
}

// HostsFile is the /etc/hosts every node of the lab gets: each node's name
// on its first IPv4 and first IPv6 address, and NODE-IFACE names for every
// interface address.
func HostsFile(lab *Lab) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, n := range lab.Nodes {
		var v4, v6 bool
		for _, ifc := range n.Ifaces {
			for _, a := range ifc.Addrs {
				names := n.Name + "-" + ifc.Name
				if a.Addr().Is4() && !v4 {
					names = n.Name + " " + names
					v4 = true
				} else if a.Addr().Is6() && !v6 {
					names = n.Name + " " + names
					v6 = true
				}
				fmt.Fprintf(&b, "%s\t%s\n", a.Addr(), names)
			}
		}
	}
	return b.String()
}
