package topo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
	"golang.org/x/sys/unix"
)

// This file is what topo does to links of a running lab: impairments at
// up, topo link show/set/down/up/flap, and the background schedules of
// timed faults.

// ErrNoNetem is returned (wrapped) when a lab or a command asks for a netem
// parameter (delay, jitter, loss, duplicate, corrupt, reorder) and the
// kernel has no sch_netem.
var ErrNoNetem = link.ErrNoNetem

// netemHint is how to get sch_netem, for messages.
const netemHint = "load it with modprobe sch_netem (some distributions ship it in the package linux-modules-extra-$(uname -r)); rate, mtu and state work without it"

func (i Impair) link() link.Impair {
	return link.Impair{
		Delay: i.Delay, Jitter: i.Jitter, Loss: i.Loss, Rate: i.Rate,
		Duplicate: i.Duplicate, Corrupt: i.Corrupt, Reorder: i.Reorder, Limit: i.Limit,
	}
}

func impairOf(l link.Impair) Impair {
	return Impair{
		Delay: l.Delay, Jitter: l.Jitter, Loss: l.Loss, Rate: l.Rate,
		Duplicate: l.Duplicate, Corrupt: l.Corrupt, Reorder: l.Reorder, Limit: l.Limit,
	}
}

// preflight checks, before anything is created, that the kernel has what
// the lab asks for: sch_netem for delay, jitter, loss, duplicate, corrupt
// and reorder.
func preflight(lab *Lab) error {
	var need []string
	for _, l := range lab.Links {
		if err := l.Impair.link().Validate(); err != nil {
			return fmt.Errorf("link %s%s: %w", l, lineOf(l), err)
		}
		if l.Impair.NeedsNetem() {
			need = append(need, fmt.Sprintf("%s%s (%s)", l, lineOf(l), l.Impair.link().NetemParams()))
		}
	}
	if len(need) == 0 {
		return nil
	}
	ok, err := link.NetemAvailable()
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	what := "link " + need[0] + " asks"
	if len(need) > 1 {
		what = "links " + strings.Join(need, ", ") + " ask"
	}
	return fmt.Errorf("%s for netem: %w: %s", what, ErrNoNetem, netemHint)
}

func lineOf(l *Link) string {
	if l.Line > 0 {
		return fmt.Sprintf(" (line %d)", l.Line)
	}
	return ""
}

// impair applies a link's impairments to both of its ends, once the veth
// pair exists: each end's egress, so that each direction gets them.
func (u *upper) impair(l *Link, v link.Veth) error {
	if l.Impair.IsZero() {
		return nil
	}
	for _, e := range []link.End{v.A, v.B} {
		if err := e.NS.SetImpair(e.Index, l.Impair.link()); err != nil {
			return err
		}
	}
	return nil
}

// LinkState is a link of a running lab as the kernel shows it now.
type LinkState struct {
	// Link is "a:eth0--b:eth1", as in the file.
	Link string `json:"link"`
	// Ends are the tail (A) and head (B) ends.
	Ends [2]EndState `json:"ends"`
	// Schedules are the background jobs acting on the link now.
	Schedules []Schedule `json:"schedules"`
}

// EndState is one end of a link.
type EndState struct {
	Node  string `json:"node"`
	Iface string `json:"iface"`
	// Up is the administrative state, Carrier whether the peer is up too.
	Up      bool `json:"up"`
	Carrier bool `json:"carrier"`
	MTU     int  `json:"mtu"`
	// Impair is what this end does to the packets it sends.
	Impair Impair `json:"impair"`
	// Qdisc is the egress tree ("", "tbf", "netem", "netem+tbf"), or the
	// kind of a root qdisc topo did not make.
	Qdisc   string `json:"qdisc,omitempty"`
	Backlog uint32 `json:"backlog"`
	Drops   uint32 `json:"drops"`
	// Error says why the end could not be read.
	Error string `json:"error,omitempty"`
}

// nodeView is what one node's namespace shows.
type nodeView struct {
	ifaces map[string]link.IfaceState
	egress map[int]link.Egress
	err    error
}

// LinkShow lists every link of the lab called lab ("" when one lab runs)
// with both ends' state and parameters read from the kernel, and the
// schedules acting on each. It changes nothing. Run it as root, from the
// host's namespaces, like every function of this file.
func LinkShow(ctx context.Context, lab string, opt Options) ([]LinkState, error) {
	st, err := pickLab(lab, opt)
	if err != nil {
		return nil, err
	}
	views := make([]nodeView, len(st.Lab.Nodes))
	u := &upper{opt: opt}
	err = u.parallel(ctx, "links", len(st.Lab.Nodes), func(i int) error {
		views[i] = readNode(st, st.Lab.Nodes[i])
		return nil
	})
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, n := range st.Lab.Nodes {
		index[n.Name] = i
	}
	scheds := listSchedules(st.Dir())
	out := []LinkState{}
	for _, l := range st.Lab.Links {
		ls := LinkState{Link: l.String(), Schedules: []Schedule{}}
		for k, ep := range []Endpoint{l.A, l.B} {
			es := EndState{Node: ep.Node, Iface: ep.Iface}
			v := views[index[ep.Node]]
			ifc, ok := v.ifaces[ep.Iface]
			switch {
			case v.err != nil:
				es.Error = v.err.Error()
			case !ok:
				es.Error = "interface not found"
			default:
				e := v.egress[ifc.Index]
				es.Up, es.Carrier, es.MTU = ifc.Up, ifc.Carrier, ifc.MTU
				es.Impair, es.Qdisc, es.Backlog, es.Drops = impairOf(e.Impair), e.Qdisc, e.Backlog, e.Drops
			}
			ls.Ends[k] = es
		}
		for _, s := range scheds {
			if s.Link == ls.Link {
				ls.Schedules = append(ls.Schedules, s)
			}
		}
		out = append(out, ls)
	}
	return out, nil
}

func readNode(st *State, n *Node) nodeView {
	p, ok := st.Nodes[n.Name]
	if !ok || !p.Alive() {
		return nodeView{err: fmt.Errorf("node %s is not running", n.Name)}
	}
	ns, err := link.OpenNS(p.NetNSPath())
	if err != nil {
		return nodeView{err: err}
	}
	defer ns.Close()
	ifs, err := ns.Interfaces()
	if err != nil {
		return nodeView{err: err}
	}
	eg, err := ns.Egresses()
	if err != nil {
		return nodeView{err: err}
	}
	v := nodeView{ifaces: map[string]link.IfaceState{}, egress: eg}
	for _, i := range ifs {
		v.ifaces[i.Name] = i
	}
	return v
}

// pickLab reads the state of the lab a link command is about: lab, or the
// only one running (as PickLab chooses).
func pickLab(lab string, opt Options) (*State, error) {
	name, _, err := PickLab("", lab, opt)
	if err != nil {
		return nil, err
	}
	return ReadState(opt.root(), name)
}

// linkRef is a link named on the command line: the link, and the ends to
// act on, the first-named first (one end for the NODE:IFACE form).
type linkRef struct {
	link *Link
	ends []Endpoint
}

func (r linkRef) String() string {
	if len(r.ends) == 1 {
		return r.ends[0].String()
	}
	return r.link.String()
}

// splitLab splits "LAB/LINK" and checks it against --lab.
func splitLab(spec, lab string) (string, string, error) {
	if l, rest, ok := strings.Cut(spec, "/"); ok {
		if lab != "" && lab != l {
			return "", "", fmt.Errorf("link %q names lab %s but --lab says %s", spec, l, lab)
		}
		return l, rest, nil
	}
	return lab, spec, nil
}

// resolveLink finds the link spec names in lab: "a:eth0--b:eth1",
// "a--b" (or with one interface named) when only one link joins a and b,
// or "a:eth0" for that one end.
func resolveLink(lab *Lab, spec string) (linkRef, error) {
	parse := func(s string) (Endpoint, error) {
		n, i, _ := strings.Cut(strings.TrimSpace(s), ":")
		if n == "" {
			return Endpoint{}, fmt.Errorf("link %q: write NODE:IFACE--NODE:IFACE, NODE--NODE or NODE:IFACE", spec)
		}
		if lab.Node(n) == nil {
			var names []string
			for _, x := range lab.Nodes {
				names = append(names, x.Name)
			}
			sort.Strings(names)
			return Endpoint{}, fmt.Errorf("lab %s has no node %q (nodes: %s)", lab.Name, n, strings.Join(names, ", "))
		}
		return Endpoint{Node: n, Iface: i}, nil
	}
	match := func(want, e Endpoint) bool { return want.Node == e.Node && (want.Iface == "" || want.Iface == e.Iface) }
	linksOf := func(n string) string {
		var s []string
		for _, l := range lab.Links {
			if l.A.Node == n || l.B.Node == n {
				s = append(s, l.String())
			}
		}
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ", ")
	}
	as, bs, pair := strings.Cut(spec, "--")
	a, err := parse(as)
	if err != nil {
		return linkRef{}, err
	}
	if !pair {
		if a.Iface == "" {
			return linkRef{}, fmt.Errorf("link %q: write %s:IFACE for one end, or %s--NODE for a link (links of %s: %s)", spec, a.Node, a.Node, a.Node, linksOf(a.Node))
		}
		for _, l := range lab.Links {
			for _, e := range []Endpoint{l.A, l.B} {
				if e == a {
					return linkRef{link: l, ends: []Endpoint{e}}, nil
				}
			}
		}
		return linkRef{}, fmt.Errorf("lab %s has no link at %s (links of %s: %s)", lab.Name, a, a.Node, linksOf(a.Node))
	}
	b, err := parse(bs)
	if err != nil {
		return linkRef{}, err
	}
	var found []linkRef
	for _, l := range lab.Links {
		switch {
		case match(a, l.A) && match(b, l.B):
			found = append(found, linkRef{link: l, ends: []Endpoint{l.A, l.B}})
		case match(a, l.B) && match(b, l.A):
			found = append(found, linkRef{link: l, ends: []Endpoint{l.B, l.A}})
		}
	}
	switch len(found) {
	case 0:
		return linkRef{}, fmt.Errorf("lab %s has no link %s (links of %s: %s)", lab.Name, spec, a.Node, linksOf(a.Node))
	case 1:
		return found[0], nil
	}
	var c []string
	for _, f := range found {
		c = append(c, f.link.String())
	}
	return linkRef{}, fmt.Errorf("link %s is ambiguous: %s: name the interfaces", spec, strings.Join(c, " or "))
}

// end is one end of a running link, ready to act on.
type end struct {
	ep    Endpoint
	node  *Node
	iface *Iface
	index int
	proc  node.Proc
}

func ends(st *State, r linkRef) ([]end, error) {
	var out []end
	for _, ep := range r.ends {
		n := st.Lab.Node(ep.Node)
		e := end{ep: ep, node: n, proc: st.Nodes[ep.Node]}
		for j, ifc := range n.Ifaces {
			if ifc.Name == ep.Iface {
				e.iface, e.index = ifc, firstIfIndex+j
			}
		}
		if e.iface == nil {
			return nil, fmt.Errorf("node %s has no interface %s", ep.Node, ep.Iface)
		}
		if !e.proc.Alive() {
			return nil, fmt.Errorf("node %s of lab %s is not running (topo status %s)", ep.Node, st.Lab.Name, st.Lab.Name)
		}
		out = append(out, e)
	}
	return out, nil
}

func (e end) open() (*link.NS, error) {
	if !e.proc.Alive() {
		return nil, fmt.Errorf("node %s is not running", e.ep.Node)
	}
	ns, err := link.OpenNS(e.proc.NetNSPath())
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", e.ep.Node, err)
	}
	return ns, nil
}

// now reads an end's parameters and interface state.
func (e end) now(ns *link.NS) (Impair, link.IfaceState, error) {
	eg, err := ns.Egress(e.index)
	if err != nil {
		return Impair{}, link.IfaceState{}, fmt.Errorf("%s: %w", e.ep, err)
	}
	ifs, err := ns.Interfaces()
	if err != nil {
		return Impair{}, link.IfaceState{}, fmt.Errorf("%s: %w", e.ep, err)
	}
	for _, i := range ifs {
		if i.Index == e.index {
			return impairOf(eg.Impair), i, nil
		}
	}
	return Impair{}, link.IfaceState{}, fmt.Errorf("%s: interface not found", e.ep)
}

// LinkChange is a change of a running link: only the fields that are set
// change, the others keep their current values.
type LinkChange struct {
	Delay     *time.Duration `json:"delay,omitempty"`
	Jitter    *time.Duration `json:"jitter,omitempty"`
	Loss      *float64       `json:"loss,omitempty"`
	Duplicate *float64       `json:"duplicate,omitempty"`
	Corrupt   *float64       `json:"corrupt,omitempty"`
	Reorder   *float64       `json:"reorder,omitempty"`
	Rate      *uint64        `json:"rate,omitempty"`
	Limit     *int           `json:"limit,omitempty"`
	MTU       *int           `json:"mtu,omitempty"`
	// Clear resets every impairment first (the set fields then apply) and
	// stops the link's schedules.
	Clear bool `json:"clear,omitempty"`
	// For, when set, undoes the change after that long, from a schedule
	// in the background: the changed fields get back the values they had
	// just before, whatever else changed meanwhile.
	For time.Duration `json:"for,omitempty"`
	// Every, with For, applies the change again at this period, until the
	// schedule is stopped.
	Every time.Duration `json:"every,omitempty"`
}

func (c LinkChange) merge(im Impair) Impair {
	if c.Clear {
		im = Impair{}
	}
	setIf(&im.Delay, c.Delay)
	setIf(&im.Jitter, c.Jitter)
	setIf(&im.Loss, c.Loss)
	setIf(&im.Duplicate, c.Duplicate)
	setIf(&im.Corrupt, c.Corrupt)
	setIf(&im.Reorder, c.Reorder)
	setIf(&im.Rate, c.Rate)
	setIf(&im.Limit, c.Limit)
	return im
}

// setIf sets *dst to *v when v is set.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// undo is the change that gives back what c changes, from the values prev
// and mtu they had.
func (c LinkChange) undo(prev Impair, mtu int) LinkChange {
	all := c.Clear
	u := LinkChange{
		Delay:     prevIf(all, c.Delay, prev.Delay),
		Jitter:    prevIf(all, c.Jitter, prev.Jitter),
		Loss:      prevIf(all, c.Loss, prev.Loss),
		Duplicate: prevIf(all, c.Duplicate, prev.Duplicate),
		Corrupt:   prevIf(all, c.Corrupt, prev.Corrupt),
		Reorder:   prevIf(all, c.Reorder, prev.Reorder),
		Rate:      prevIf(all, c.Rate, prev.Rate),
		Limit:     prevIf(all, c.Limit, prev.Limit),
	}
	if c.MTU != nil {
		u.MTU = &mtu
	}
	return u
}

// prevIf is the field of an undo: the previous value when the change
// touched the field (or all of them), else unset.
func prevIf[T any](all bool, changed *T, prev T) *T {
	if all || changed != nil {
		return &prev
	}
	return nil
}

// String says what the change does: "loss 50% for 5s every 1m0s".
func (c LinkChange) String() string {
	var p []string
	if c.Clear {
		p = append(p, "clear")
	}
	d := func(name string, v *time.Duration) {
		if v != nil {
			p = append(p, name+" "+v.String())
		}
	}
	f := func(name string, v *float64) {
		if v != nil {
			p = append(p, name+" "+link.FormatPercent(*v))
		}
	}
	d("delay", c.Delay)
	d("jitter", c.Jitter)
	f("loss", c.Loss)
	f("duplicate", c.Duplicate)
	f("corrupt", c.Corrupt)
	f("reorder", c.Reorder)
	if c.Rate != nil {
		p = append(p, "rate "+FormatRate(*c.Rate))
	}
	if c.Limit != nil {
		p = append(p, fmt.Sprintf("limit %d", *c.Limit))
	}
	if c.MTU != nil {
		p = append(p, fmt.Sprintf("mtu %d", *c.MTU))
	}
	if c.For > 0 {
		p = append(p, "for "+c.For.String())
	}
	if c.Every > 0 {
		p = append(p, "every "+c.Every.String())
	}
	return strings.Join(p, " ")
}

func (c LinkChange) empty() bool {
	return !c.Clear && c.Delay == nil && c.Jitter == nil && c.Loss == nil && c.Duplicate == nil &&
		c.Corrupt == nil && c.Reorder == nil && c.Rate == nil && c.Limit == nil && c.MTU == nil
}

// check refuses changes that make no sense before anything is touched.
func (c LinkChange) check() error {
	switch {
	case c.empty():
		return errors.New("nothing to change: give --delay, --jitter, --loss, --rate, --mtu, ... or --clear")
	case c.MTU != nil && (*c.MTU < 68 || *c.MTU > 65535):
		return fmt.Errorf("mtu %d: must be from 68 to 65535", *c.MTU)
	case c.For < 0 || c.Every < 0:
		return errors.New("durations cannot be negative")
	case c.Every > 0 && c.For == 0:
		return errors.New("--every repeats a timed fault: give its length with --for")
	case c.Every > 0 && c.For >= c.Every:
		return fmt.Errorf("--for %v must be shorter than --every %v", c.For, c.Every)
	case c.Clear && c.For > 0:
		return errors.New("--clear cannot be timed: it stops the link's schedules")
	}
	return nil
}

// LinkSet changes a running link in place, on both ends (or the one end
// spec names), without touching anything else: see LinkChange. spec is
// "a:eth0--b:eth1", "a--b" or "a:eth0", optionally "LAB/" first; lab is
// --lab ("" when one lab runs or spec names it). With For, the change runs
// from a background schedule (see Schedule) that this returns once it has
// made the change. A change that needs sch_netem on a kernel without it
// fails before anything is changed.
func LinkSet(ctx context.Context, lab, spec string, ch LinkChange, opt Options) error {
	if err := ch.check(); err != nil {
		return err
	}
	return withLink(ctx, lab, spec, opt, func(st *State, ref linkRef) error {
		if ch.Clear {
			if err := stopLinkSchedules(ctx, st.Dir(), ref.link.String()); err != nil {
				return err
			}
		}
		if ch.For > 0 {
			return startSchedule(st, &Schedule{Kind: "fault", Change: &ch}, ref)
		}
		return withEnds(ctx, st, ref, func(es []end) error {
			_, err := applyChange(es, ref, ch)
			return err
		})
	})
}

// LinkSetState takes a link down or brings it up. Down sets the first-named
// end administratively down, so that its peer loses carrier as with a
// pulled cable; up sets every named end up and gives back what going down
// took (IPv6 addresses, static routes through the interface).
func LinkSetState(ctx context.Context, lab, spec string, up bool, opt Options) error {
	return withLink(ctx, lab, spec, opt, func(st *State, ref linkRef) error {
		return withEnds(ctx, st, ref, func(es []end) error { return setState(es, up) })
	})
}

// Flap is a flap schedule: Count times (0: until stopped), the link goes
// down for Down, then up for Up.
type Flap struct {
	Down  time.Duration `json:"down"`
	Up    time.Duration `json:"up"`
	Count int           `json:"count,omitempty"`
}

// LinkFlap starts a schedule that takes the link down and up as f says
// (down as LinkSetState does), and returns once the link is down for the
// first time. The link is left up when the schedule ends or is stopped.
func LinkFlap(ctx context.Context, lab, spec string, f Flap, opt Options) error {
	if f.Down <= 0 || f.Up <= 0 || f.Count < 0 {
		return errors.New("flap: --down and --up must be positive, --count 0 or more")
	}
	return withLink(ctx, lab, spec, opt, func(st *State, ref linkRef) error {
		return startSchedule(st, &Schedule{Kind: "flap", Flap: &f}, ref)
	})
}

// withLink resolves lab and spec and runs f holding the lab's lock, so
// that no up or down of the lab runs meanwhile.
func withLink(ctx context.Context, lab, spec string, opt Options, f func(*State, linkRef) error) error {
	lab, spec, err := splitLab(spec, lab)
	if err != nil {
		return err
	}
	st, err := pickLab(lab, opt)
	if err != nil {
		return err
	}
	ref, err := resolveLink(st.Lab, spec)
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, st.Dir())
	if err != nil {
		return err
	}
	defer unlock()
	// Read again under the lock: a down may have finished meanwhile.
	if _, err := os.Stat(filepath.Join(st.Dir(), stateFile)); err != nil {
		return fmt.Errorf("lab %q: %w (topo ls lists the running labs)", st.Lab.Name, ErrNoLab)
	}
	if st.Phase != PhaseUp {
		return fmt.Errorf("lab %s is %s, not up", st.Lab.Name, st.Phase)
	}
	return f(st, ref)
}

// withEnds runs f on the link's ends under the lab's links lock.
func withEnds(ctx context.Context, st *State, ref linkRef, f func([]end) error) error {
	es, err := ends(st, ref)
	if err != nil {
		return err
	}
	unlock, err := lockLinks(ctx, st.Dir())
	if err != nil {
		return err
	}
	defer unlock()
	return f(es)
}

// lockLinks serialises the read-change-write of link parameters between
// commands and schedules of one lab. It is not the lab's lock, which a
// down holds while it stops the schedules.
func lockLinks(ctx context.Context, dir string) (func(), error) {
	return flockWait(ctx, filepath.Join(dir, "links.lock"))
}

// applyChange applies ch to the ends and returns, for each, the change
// that undoes it. Every end is read and checked before any is changed; if
// one fails, those already changed get their old values back.
func applyChange(es []end, ref linkRef, ch LinkChange) (undo []LinkChange, err error) {
	type plan struct {
		ns   *link.NS
		prev Impair
		mtu  int
		next Impair
	}
	plans := make([]plan, len(es))
	defer func() {
		for _, p := range plans {
			if p.ns != nil {
				p.ns.Close()
			}
		}
	}()
	for i, e := range es {
		ns, err := e.open()
		if err != nil {
			return nil, err
		}
		plans[i].ns = ns
		prev, ifs, err := e.now(ns)
		if err != nil {
			return nil, err
		}
		next := ch.merge(prev)
		if err := next.link().Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", e.ep, err)
		}
		plans[i].prev, plans[i].mtu, plans[i].next = prev, ifs.MTU, next
		if next.NeedsNetem() {
			ok, err := link.NetemAvailable()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("link %s: %s needs netem: %w: %s", ref, next.link().NetemParams(), ErrNoNetem, netemHint)
			}
		}
	}
	set := func(e end, p plan, im Impair, mtu int) error {
		if mtu != p.mtu || ch.MTU != nil {
			if err := p.ns.SetMTU(e.index, mtu); err != nil {
				return fmt.Errorf("%s: %w", e.ep, err)
			}
		}
		// Applied even when unchanged: the shaper's burst follows the MTU.
		if err := p.ns.SetImpair(e.index, im.link()); err != nil {
			return fmt.Errorf("%s: %w", e.ep, err)
		}
		return nil
	}
	for i, e := range es {
		mtu := plans[i].mtu
		if ch.MTU != nil {
			mtu = *ch.MTU
		}
		if err := set(e, plans[i], plans[i].next, mtu); err != nil {
			var errs []error
			for j := i; j >= 0; j-- {
				if rerr := set(es[j], plans[j], plans[j].prev, plans[j].mtu); rerr != nil {
					errs = append(errs, rerr)
				}
			}
			if len(errs) > 0 {
				return nil, errors.Join(err, fmt.Errorf("undo: %w", errors.Join(errs...)))
			}
			return nil, err
		}
	}
	for _, p := range plans {
		undo = append(undo, ch.undo(p.prev, p.mtu))
	}
	return undo, nil
}

// restoreChange applies each end's undo.
func restoreChange(es []end, ref linkRef, undo []LinkChange) error {
	var errs []error
	for i, e := range es {
		if _, err := applyChange([]end{e}, ref, undo[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setState takes the first end down, or brings every end up and restores
// what going down removed from those that were down.
func setState(es []end, up bool) error {
	if !up {
		es = es[:1]
	}
	for _, e := range es {
		ns, err := e.open()
		if err != nil {
			return err
		}
		err = func() error {
			defer ns.Close()
			_, ifs, err := e.now(ns)
			if err != nil {
				return err
			}
			if ifs.Up == up {
				return nil
			}
			if err := ns.SetUp(e.ep.Iface, up); err != nil {
				return fmt.Errorf("%s: set %s: %w", e.ep, map[bool]string{true: "up", false: "down"}[up], err)
			}
			if !up {
				return nil
			}
			if err := ns.Restore(e.index, e.iface.Addrs, routesVia(e)); err != nil {
				return fmt.Errorf("%s: restore after down: %w", e.ep, err)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// routesVia lists the node's static routes that go through the end's
// interface: by dev, or by a gateway on one of its subnets.
func routesVia(e end) []link.Route {
	var out []link.Route
	for _, r := range e.node.Routes {
		on := r.Dev == e.ep.Iface
		if r.Dev == "" && r.Via.IsValid() {
			for _, a := range e.iface.Addrs {
				if a.Masked().Contains(r.Via) {
					on = true
				}
			}
		}
		if !on {
			continue
		}
		lr := link.Route{Dst: r.Dst, Via: r.Via, Metric: r.Metric}
		if r.Dev != "" {
			lr.DevIndex = e.index
		}
		out = append(out, lr)
	}
	return out
}

// Schedules.
//
// A schedule is a process of its own: the topo binary again, started as
// "topo link __sched DIR ID" in its own session (closing the terminal does
// not end it), recorded in DIR/sched/ID.json, logging to DIR/sched/ID.log.
// Its command line marks it as the lab's, so that down finds and ends it
// even without the record. It opens a node's namespace only for the moment
// of each change: a schedule never keeps a namespace alive.

// ScheduleArg is the marker in a schedule's command line.
const ScheduleArg = "__sched"

// Schedule is a background job acting on a link.
type Schedule struct {
	ID string `json:"id"`
	// Link is the link ("a:eth0--b:eth1"); Ends the ends it acts on.
	Link string     `json:"link"`
	Ends []Endpoint `json:"ends"`
	// Kind is "fault" (a LinkChange with For) or "flap".
	Kind   string      `json:"kind"`
	Change *LinkChange `json:"change,omitempty"`
	Flap   *Flap       `json:"flap,omitempty"`
	// What says what it does, for people.
	What    string    `json:"what"`
	PID     int       `json:"pid"`
	Start   uint64    `json:"start"`
	Started time.Time `json:"started"`
}

func schedDir(dir string) string { return filepath.Join(dir, schedFolder) }

func (s *Schedule) describe() string {
	target := s.Link
	if len(s.Ends) == 1 {
		target = s.Ends[0].String()
	}
	switch {
	case s.Flap != nil:
		n := "until stopped"
		if s.Flap.Count > 0 {
			n = fmt.Sprintf("%d times", s.Flap.Count)
		}
		return fmt.Sprintf("flap %s: down %v, up %v, %s", target, s.Flap.Down, s.Flap.Up, n)
	case s.Change != nil:
		return fmt.Sprintf("set %s: %s", target, s.Change)
	}
	return s.Kind
}

// startSchedule records and starts a schedule, and waits until it has made
// its first change (or failed to).
func startSchedule(st *State, s *Schedule, ref linkRef) error {
	if _, err := ends(st, ref); err != nil {
		return err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	s.ID = hex.EncodeToString(b[:])
	s.Link, s.Ends = ref.link.String(), ref.ends
	s.What = s.describe()
	d := schedDir(st.Dir())
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if err := writeJSON(filepath.Join(d, s.ID+".json"), s); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(d, s.ID+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	defer logf.Close()
	// The schedule runs in /, and down finds it by this path.
	abs, err := filepath.Abs(st.Dir())
	if err != nil {
		return err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"topo", "link", ScheduleArg, abs, s.ID},
		Env:         os.Environ(),
		Dir:         "/",
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  []*os.File{wr},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		os.Remove(filepath.Join(d, s.ID+".json"))
		return fmt.Errorf("start schedule: %w", err)
	}
	// Reap it when it ends, should this process still run then.
	go func() { _ = cmd.Wait() }()
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(rd, 64<<10))
		done <- string(b)
	}()
	var msg string
	select {
	case msg = <-done:
	case <-time.After(30 * time.Second):
		msg = "schedule not started after 30s"
	}
	if msg == "ok" {
		return nil
	}
	if msg == "" {
		msg = "schedule exited before it started (see " + filepath.Join(d, s.ID+".log") + ")"
	}
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st2, _ := node.StartTime(cmd.Process.Pid)
	_ = node.Kill(kctx, []node.Proc{{PID: cmd.Process.Pid, Start: st2}})
	os.Remove(filepath.Join(d, s.ID+".json"))
	return errors.New(strings.TrimSpace(msg))
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// listSchedules reads the lab's schedule records, keeping those whose
// process runs, sorted by start.
func listSchedules(dir string) []Schedule {
	ents, err := os.ReadDir(schedDir(dir))
	if err != nil {
		return nil
	}
	var out []Schedule
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(schedDir(dir), e.Name()))
		if err != nil {
			continue
		}
		var s Schedule
		if json.Unmarshal(b, &s) != nil || s.PID == 0 {
			continue
		}
		if !(node.Proc{PID: s.PID, Start: s.Start}).Alive() {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// findSchedules lists the running schedule processes of the lab folder dir
// by their command line.
func findSchedules(dir string) []node.Proc {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte("\x00" + ScheduleArg + "\x00" + dir + "\x00")
	var out []node.Proc
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(b), string(want)) {
			continue
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := node.StartTime(pid)
		if err != nil {
			continue
		}
		p := node.Proc{PID: pid, Start: st}
		if p.Alive() {
			out = append(out, p)
		}
	}
	return out
}

// stopSchedules ends the lab's background link schedules (flaps, timed
// faults), found by their command lines, and waits until they have
// exited; Down calls it before ending the nodes. They are killed outright:
// the lab is going away, there is nothing to give back.
func stopSchedules(ctx context.Context, dir string) error {
	// A schedule is started only once its folder exists: without one,
	// spare the read of every process's command line.
	if _, err := os.Stat(schedDir(dir)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	procs := findSchedules(dir)
	if len(procs) == 0 {
		return nil
	}
	if err := node.Kill(ctx, procs); err != nil {
		return fmt.Errorf("stop schedules: %w", err)
	}
	return nil
}

// stopLinkSchedules asks the schedules of one link to stop, which makes
// each give back what it changed (the link up, the old values), and waits
// for them; one that does not stop in time is killed.
func stopLinkSchedules(ctx context.Context, dir, linkName string) error {
	var procs []node.Proc
	for _, s := range listSchedules(dir) {
		if s.Link == linkName {
			procs = append(procs, node.Proc{PID: s.PID, Start: s.Start})
		}
	}
	if len(procs) == 0 {
		return nil
	}
	for _, p := range procs {
		fd, err := unix.PidfdOpen(p.PID, 0)
		if err != nil {
			continue
		}
		if st, err := node.StartTime(p.PID); err == nil && st == p.Start {
			_ = unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
		}
		unix.Close(fd)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		alive := 0
		for _, p := range procs {
			if p.Alive() {
				alive++
			}
		}
		if alive == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return node.Kill(kctx, procs)
}

// MaybeRunSchedule turns this process into a link schedule when it was
// started as one ("topo link __sched DIR ID"), and never returns then. The
// topo command reaches RunSchedule through its hidden "link __sched"
// command; a test binary that starts schedules calls this first thing.
func MaybeRunSchedule() {
	if len(os.Args) == 5 && os.Args[1] == "link" && os.Args[2] == ScheduleArg {
		os.Exit(RunSchedule(os.Args[3], os.Args[4]))
	}
}

// RunSchedule is the whole life of a schedule: the record DIR/sched/ID.json
// says what to do to which link of the lab whose state folder is dir. It
// reports its first change, or why it failed, on fd 3, and returns the
// exit status. SIGTERM makes it give back what it changed and exit; it
// also exits when its record or its lab goes away.
func RunSchedule(dir, id string) int {
	ready := os.NewFile(3, "ready")
	readyOnce := func(msg string) {
		if ready != nil {
			_, _ = ready.Write([]byte(msg))
			ready.Close()
			ready = nil
		}
	}
	rec := filepath.Join(schedDir(dir), id+".json")
	defer os.Remove(rec)
	defer func() {
		// A log with nothing in it tells nothing.
		if fi, err := os.Stderr.Stat(); err == nil && fi.Size() == 0 {
			os.Remove(filepath.Join(schedDir(dir), id+".log"))
		}
	}()
	fail := func(err error) int {
		readyOnce(err.Error())
		fmt.Fprintf(os.Stderr, "topo schedule %s: %v\n", id, err)
		return 1
	}
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer stop()

	var s Schedule
	b, err := os.ReadFile(rec)
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return fail(fmt.Errorf("read schedule: %w", err))
	}
	st, err := ReadState(filepath.Dir(dir), filepath.Base(dir))
	if err != nil {
		return fail(err)
	}
	s.PID = os.Getpid()
	if s.Start, err = node.StartTime(s.PID); err != nil {
		return fail(err)
	}
	s.Started = time.Now().UTC()
	if err := writeJSON(rec, &s); err != nil {
		return fail(err)
	}
	var l *Link
	for _, x := range st.Lab.Links {
		if x.String() == s.Link {
			l = x
		}
	}
	if l == nil {
		return fail(fmt.Errorf("lab %s has no link %s", st.Lab.Name, s.Link))
	}
	ref := linkRef{link: l, ends: s.Ends}
	es, err := ends(st, ref)
	if err != nil {
		return fail(err)
	}
	// act runs one change under the links lock.
	act := func(f func() error) error {
		lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		unlock, err := lockLinks(lctx, dir)
		if err != nil {
			return err
		}
		defer unlock()
		return f()
	}
	// wait sleeps d; false when stopped or when the record is gone.
	wait := func(d time.Duration) bool {
		end := time.Now().Add(d)
		for {
			left := time.Until(end)
			if left <= 0 {
				return true
			}
			select {
			case <-ctx.Done():
				return false
			case <-time.After(min(left, 500*time.Millisecond)):
			}
			if _, err := os.Stat(rec); errors.Is(err, fs.ErrNotExist) {
				return false
			}
		}
	}
	logErr := func(err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "topo schedule %s: %v\n", id, err)
		}
	}
	switch {
	case s.Flap != nil:
		for i := 0; s.Flap.Count == 0 || i < s.Flap.Count; i++ {
			if err := act(func() error { return setState(es, false) }); err != nil {
				return fail(err)
			}
			readyOnce("ok")
			ok := wait(s.Flap.Down)
			logErr(act(func() error { return setState(es, true) }))
			if !ok || i == s.Flap.Count-1 || !wait(s.Flap.Up) {
				return 0
			}
		}
	case s.Change != nil:
		c := *s.Change
		start := time.Now()
		for k := 1; ; k++ {
			var undo []LinkChange
			if err := act(func() error {
				var err error
				undo, err = applyChange(es, ref, c)
				return err
			}); err != nil {
				return fail(err)
			}
			readyOnce("ok")
			wait(c.For)
			logErr(act(func() error { return restoreChange(es, ref, undo) }))
			if ctx.Err() != nil || c.Every == 0 || !wait(time.Until(start.Add(time.Duration(k)*c.Every))) {
				return 0
			}
		}
	}
	return fail(fmt.Errorf("schedule %s: nothing to do", id))
}
