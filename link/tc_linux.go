package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Impair is what an interface does to the packets it sends: its egress
// queue. The zero value is a perfect link, with no queueing discipline at
// all (a veth's default is noqueue).
//
// Rate is a token-bucket shaper (sch_tbf, built into most kernels); every
// other field needs sch_netem.
type Impair struct {
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss, Duplicate, Corrupt and Reorder are percentages, 0 to 100.
	// Reorder sends that share of packets at once while the others wait
	// Delay, so it needs a Delay.
	Loss      float64 `json:"loss,omitempty"`
	Duplicate float64 `json:"duplicate,omitempty"`
	Corrupt   float64 `json:"corrupt,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
	// Rate is in bits per second; 0 is unlimited.
	Rate uint64 `json:"rate,omitempty"`
	// Limit is the queue length in full-size packets: the shaper's queue
	// when Rate is set, else netem's. 0 picks a default (see SetImpair).
	Limit int `json:"limit,omitempty"`
}

// NeedsNetem reports whether the impairment needs the sch_netem qdisc.
func (im Impair) NeedsNetem() bool {
	return im.Delay > 0 || im.Jitter > 0 || im.Loss > 0 || im.Duplicate > 0 || im.Corrupt > 0 || im.Reorder > 0
}

// IsZero reports whether im is a perfect link.
func (im Impair) IsZero() bool { return im == Impair{} }

// NetemParams names the netem parameters im sets, for messages: "delay
// 10ms, loss 1%".
func (im Impair) NetemParams() string {
	var p []string
	add := func(name string, on bool, v string) {
		if on {
			p = append(p, name+" "+v)
		}
	}
	add("delay", im.Delay > 0, im.Delay.String())
	add("jitter", im.Jitter > 0, im.Jitter.String())
	add("loss", im.Loss > 0, FormatPercent(im.Loss))
	add("duplicate", im.Duplicate > 0, FormatPercent(im.Duplicate))
	add("corrupt", im.Corrupt > 0, FormatPercent(im.Corrupt))
	add("reorder", im.Reorder > 0, FormatPercent(im.Reorder))
	return strings.Join(p, ", ")
}

// FormatPercent formats a percentage as "0.5%".
func FormatPercent(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) + "%" }

// maxJitter is what netem keeps of a jitter: it caps it at INT_MAX ns.
const maxJitter = time.Duration(math.MaxInt32)

// Validate checks that the kernel can do what im asks, as asked.
func (im Impair) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", im.Loss}, {"duplicate", im.Duplicate}, {"corrupt", im.Corrupt}, {"reorder", im.Reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 100 {
			return fmt.Errorf("%s %v: must be between 0%% and 100%%", p.name, p.v)
		}
	}
	switch {
	case im.Delay < 0 || im.Jitter < 0:
		return errors.New("delay and jitter cannot be negative")
	case im.Jitter > maxJitter:
		return fmt.Errorf("jitter %v: netem takes at most %v", im.Jitter, maxJitter)
	case im.Jitter > 0 && im.Delay == 0:
		return errors.New("jitter needs a delay to vary")
	case im.Reorder > 0 && im.Delay == 0:
		return errors.New("reorder needs a delay: netem reorders by sending some packets without it")
	case im.Rate > 0 && im.Rate < 8:
		return fmt.Errorf("rate %dbit: the shaper counts bytes, so at least 8bit", im.Rate)
	case im.Limit < 0:
		return fmt.Errorf("limit %d: must be positive", im.Limit)
	case im.Limit > 0 && im.Rate == 0 && !im.NeedsNetem():
		return errors.New("limit sizes the queue of a rate or of netem: set one of them too")
	}
	return nil
}

// Egress is an interface's egress queue as the kernel shows it now.
type Egress struct {
	Impair
	// Qdisc describes the tree: "" (none), "tbf", "netem", "netem+tbf",
	// or the kind of a root qdisc that topo did not make (whose
	// parameters are not read).
	Qdisc string `json:"qdisc,omitempty"`
	// Backlog is the bytes queued now, Drops the packets the qdiscs
	// dropped since they were made (netem loss included).
	Backlog uint32 `json:"backlog"`
	Drops   uint32 `json:"drops"`
}

// The tree topo builds on an interface's egress. netem goes first (the
// root) and the shaper after it, so that a packet waits its delay and then
// its turn at the rate, as on a real link where propagation adds to
// queueing: with the shaper first, a packet would wait for tokens while its
// delay ran and see max(queue, delay) instead of their sum. tbf re-peeks
// its child on every dequeue and netem's watchdog reschedules the root, so
// either order keeps the rate; htb would not be work-conserving with a
// netem leaf, hence tbf. Each kind has its own handle, so that a new value
// of the same kind is an in-place change and a new kind a graft that
// replaces the old tree in one request.
const (
	handleTbf      = 0x0001_0000 // 1: tbf as the root (rate only)
	handleNetem    = 0x0002_0000 // 2: netem as the root
	handleTbfChild = 0x0003_0000 // 3: tbf under netem, at 2:1
	netemClass     = handleNetem | 1
)

// frameOverhead is what a frame adds to the MTU: Ethernet header and a
// VLAN tag. A "packet" of Limit is MTU plus this.
const frameOverhead = 18

// Defaults of the shaper and of netem's queue.
const (
	// burstTime is the burst the shaper allows, in time at the rate: long
	// enough that a late timer does not cost throughput, short enough that
	// an idle link does not pass a long line-rate burst.
	burstTime = 10 * time.Millisecond
	// queueTime is the shaper's default queue, in time at the rate (tc's
	// customary "latency 50ms").
	queueTime = 50 * time.Millisecond
	// netemDefaultLimit is tc's default netem limit, in packets.
	netemDefaultLimit = 1000
	// psched ticks are 64 ns (PSCHED_SHIFT 6) in every kernel since 2.6.31.
	pschedShift = 6
)

// tbfConfig is the shaper for a rate on an interface with a given MTU.
type tbfConfig struct {
	rate  uint64 // bytes per second
	burst uint32 // bytes
	limit uint32 // bytes
}

func tbfFor(im Impair, mtu int) tbfConfig {
	rate := (im.Rate + 4) / 8
	frame := uint64(mtu) + frameOverhead
	// A frame larger than the burst is dropped (a GSO packet is cut into
	// frames first), so the burst holds two full-size frames at least.
	burst := max(rate*uint64(burstTime)/uint64(time.Second), 2*frame)
	var limit uint64
	if im.Limit > 0 {
		limit = uint64(im.Limit) * frame
		// The queue must hold the largest packet the burst lets through
		// uncut.
		burst = min(burst, limit)
	} else {
		limit = burst + max(rate*uint64(queueTime)/uint64(time.Second), 10*frame)
	}
	return tbfConfig{rate: rate, burst: uint32(min(burst, math.MaxUint32)), limit: uint32(min(limit, math.MaxUint32))}
}

// netemLimit is netem's queue in packets. With a rate, the queue that
// should fill and drop is the shaper's; netem then only holds what is on
// the delay line, and tc's default of 1000 packets would cap a long fat
// link (1000 packets in 100 ms is 120 Mbit/s), so it grows with rate and
// delay. Some kernels count the child's packets in netem's limit too: the
// shaper's queue is added.
func netemLimit(im Impair, mtu int) uint32 {
	if im.Rate == 0 {
		if im.Limit > 0 {
			return uint32(min(im.Limit, math.MaxUint32))
		}
		return netemDefaultLimit
	}
	t := tbfFor(im, mtu)
	frame := uint64(mtu) + frameOverhead
	line := t.rate * uint64(im.Delay+im.Jitter) / uint64(time.Second) / frame
	return uint32(min(max(netemDefaultLimit, 2*line+uint64(t.limit)/frame), math.MaxUint32))
}

// ticks converts a duration to psched ticks, saturating.
func ticks(d time.Duration) uint32 {
	return uint32(min(uint64(d)>>pschedShift, math.MaxUint32))
}

// prob converts a percentage to netem's 32-bit probability (~0 is 100%).
func prob(pct float64) uint32 {
	return uint32(math.Round(min(max(pct, 0), 100) / 100 * math.MaxUint32))
}

// percent converts netem's probability back, rounded to 1e-7 %, well
// below what a 32-bit probability tells apart from its neighbours at the
// values people write, so that 0.5% reads back as 0.5%.
func percent(p uint32) float64 {
	return math.Round(float64(p)/math.MaxUint32*100*1e7) / 1e7
}

// Netlink attributes of netem newer than the library's list.
const (
	tcaNetemLatency64 = 10
	tcaNetemJitter64  = 11
)

func tbfOptions(t tbfConfig) *nl.RtAttr {
	opt := nl.TcTbfQopt{Limit: t.limit}
	opt.Rate.Rate = uint32(min(t.rate, math.MaxUint32))
	// Ethernet: the kernel then needs no rate table.
	opt.Rate.Linklayer = nl.LINKLAYER_ETHERNET
	// Buffer is the burst in ticks at the rate; kernels since 3.13 take
	// the burst in bytes from TCA_TBF_BURST instead.
	opt.Buffer = ticks(time.Duration(float64(t.burst) / float64(t.rate) * float64(time.Second)))
	o := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	o.AddRtAttr(nl.TCA_TBF_PARMS, opt.Serialize())
	if t.rate > math.MaxUint32 {
		o.AddRtAttr(nl.TCA_TBF_RATE64, nl.Uint64Attr(t.rate))
	}
	o.AddRtAttr(nl.TCA_TBF_BURST, nl.Uint32Attr(t.burst))
	return o
}

// netemOptions builds netem's options: a tc_netem_qopt followed by
// attributes. Reorder, corruption and correlations are always sent, zero
// or not, because netem keeps their old values on a change that leaves
// them out.
func netemOptions(im Impair, limit uint32) *nl.RtAttr {
	opt := nl.TcNetemQopt{
		Latency:   ticks(im.Delay),
		Jitter:    ticks(im.Jitter),
		Limit:     limit,
		Loss:      prob(im.Loss),
		Duplicate: prob(im.Duplicate),
	}
	if im.Reorder > 0 {
		// Without a gap netem never reorders; 1 lets every packet be
		// a candidate, as tc does.
		opt.Gap = 1
	}
	o := nl.NewRtAttr(nl.TCA_OPTIONS, opt.Serialize())
	corr := nl.TcNetemCorr{}
	o.AddRtAttr(nl.TCA_NETEM_CORR, corr.Serialize())
	reorder := nl.TcNetemReorder{Probability: prob(im.Reorder)}
	o.AddRtAttr(nl.TCA_NETEM_REORDER, reorder.Serialize())
	corrupt := nl.TcNetemCorrupt{Probability: prob(im.Corrupt)}
	o.AddRtAttr(nl.TCA_NETEM_CORRUPT, corrupt.Serialize())
	// Nanoseconds: ticks lose precision and overflow past 274 s.
	o.AddRtAttr(tcaNetemLatency64, nl.Uint64Attr(uint64(im.Delay)))
	o.AddRtAttr(tcaNetemJitter64, nl.Uint64Attr(uint64(im.Jitter)))
	return o
}

// putQdisc creates a qdisc, or changes it in place when one of the same
// handle is there (same handle means same kind in topo's tree), or grafts
// it in place of another at that parent.
func (n *NS) putQdisc(index int, parent, handle uint32, kind string, opts *nl.RtAttr) error {
	req := n.request(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(index), Handle: handle, Parent: parent})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated(kind)))
	req.AddData(opts)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// delQdisc deletes the qdisc at parent; a missing one is success.
func (n *NS) delQdisc(index int, parent, handle uint32) error {
	req := n.request(unix.RTM_DELQDISC, unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(index), Handle: handle, Parent: parent})
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// SetImpair makes the egress of the interface with the given index do what
// im says, replacing whatever topo set before, in place: the interface is
// not touched, and packets already queued stay queued when only values
// change. The zero Impair removes topo's qdiscs (and any other root qdisc).
//
// The shaper allows a burst of 10 ms at the rate (two full-size frames at
// least) and queues 50 ms at the rate unless Limit says otherwise. The
// rate counts Ethernet frames (headers included, no preamble or gap), so
// TCP goodput is about 95% of it at MTU 1500.
//
// An interface without sch_netem fails with ErrNoNetem when im needs it,
// and is left as it was.
func (n *NS) SetImpair(index int, im Impair) error {
	if err := im.Validate(); err != nil {
		return err
	}
	l, err := n.h.LinkByIndex(index)
	if err != nil {
		return fmt.Errorf("interface %d: %w", index, err)
	}
	mtu := l.Attrs().MTU
	root, err := n.qdiscAt(index, netlink.HANDLE_ROOT)
	if err != nil {
		return fmt.Errorf("%s: %w", l.Attrs().Name, err)
	}
	wrap := func(what string, err error) error {
		if err == nil {
			return nil
		}
		if what == "netem" && errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", l.Attrs().Name, ErrNoNetem)
		}
		return fmt.Errorf("%s: set %s: %w", l.Attrs().Name, what, err)
	}
	switch {
	case im.IsZero():
		if root.handle == 0 {
			return nil
		}
		return wrap("qdisc", n.delQdisc(index, netlink.HANDLE_ROOT, 0))
	case !im.NeedsNetem():
		return wrap("tbf", n.putQdisc(index, netlink.HANDLE_ROOT, handleTbf, "tbf", tbfOptions(tbfFor(im, mtu))))
	}
	if err := n.putQdisc(index, netlink.HANDLE_ROOT, handleNetem, "netem", netemOptions(im, netemLimit(im, mtu))); err != nil {
		return wrap("netem", err)
	}
	if im.Rate > 0 {
		return wrap("tbf", n.putQdisc(index, netemClass, handleTbfChild, "tbf", tbfOptions(tbfFor(im, mtu))))
	}
	if root.kind == "netem" && root.handle == handleNetem {
		// The netem changed in place kept its shaper: remove it.
		return wrap("tbf", n.delQdisc(index, netemClass, 0))
	}
	return nil
}

// ErrNoNetem says the kernel has no sch_netem qdisc.
var ErrNoNetem = errors.New("this kernel has no sch_netem qdisc")

// qdisc is one qdisc of a dump.
type qdisc struct {
	index          int
	handle, parent uint32
	kind           string
	opts           []byte
	backlog, drops uint32
}

// qdiscAt reads the qdisc attached at parent (netlink.HANDLE_ROOT, or a
// class) of an interface; the zero qdisc when there is none. A root
// without a handle is the interface's default (noqueue, pfifo_fast).
func (n *NS) qdiscAt(index int, parent uint32) (qdisc, error) {
	// The kernel sends the answer as a notification, to this socket only
	// with NLM_F_ECHO, and nothing at all for a default root: the ack
	// ends the wait (and is skipped by sequence number when an answer
	// came first).
	req := n.request(unix.RTM_GETQDISC, unix.NLM_F_ECHO|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(index), Parent: parent})
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWQDISC)
	if errors.Is(err, unix.ENOENT) || err == nil && len(msgs) == 0 {
		return qdisc{}, nil
	}
	if err != nil {
		return qdisc{}, fmt.Errorf("read qdisc: %w", err)
	}
	return parseQdisc(msgs[0])
}

// qdiscs dumps the namespace's qdiscs.
func (n *NS) qdiscs() ([]qdisc, error) {
	msgs, err := RetryDump(func() ([][]byte, error) {
		req := n.request(unix.RTM_GETQDISC, unix.NLM_F_DUMP)
		req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL})
		return req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWQDISC)
	})
	if err != nil {
		return nil, fmt.Errorf("list qdiscs: %w", err)
	}
	var out []qdisc
	for _, m := range msgs {
		q, err := parseQdisc(m)
		if err != nil {
			return nil, fmt.Errorf("list qdiscs: %w", err)
		}
		out = append(out, q)
	}
	return out, nil
}

// parseQdisc reads one RTM_NEWQDISC message.
func parseQdisc(m []byte) (qdisc, error) {
	if len(m) < nl.SizeofTcMsg {
		return qdisc{}, errors.New("short qdisc message")
	}
	tm := nl.DeserializeTcMsg(m)
	q := qdisc{index: int(tm.Ifindex), handle: tm.Handle, parent: tm.Parent}
	attrs, err := nl.ParseRouteAttr(m[nl.SizeofTcMsg:])
	if err != nil {
		return qdisc{}, err
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case nl.TCA_KIND:
			q.kind = strings.TrimRight(string(a.Value), "\x00")
		case nl.TCA_OPTIONS:
			q.opts = a.Value
		case nl.TCA_STATS2:
			q.backlog, q.drops = queueStats(a.Value)
		}
	}
	return q, nil
}

// queueStats reads backlog and drops from TCA_STATS2's gnet_stats_queue
// (qlen, backlog, drops, requeues, overlimits: five u32).
func queueStats(b []byte) (backlog, drops uint32) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return 0, 0
	}
	for _, a := range attrs {
		if a.Attr.Type == nl.TCA_STATS_QUEUE && len(a.Value) >= 12 {
			return native.Uint32(a.Value[4:8]), native.Uint32(a.Value[8:12])
		}
	}
	return 0, 0
}

var native = binary.NativeEndian

// tree is the root qdisc of an interface and the root's child.
type tree struct {
	root, child qdisc
}

func treeOf(all []qdisc, index int) tree {
	var t tree
	for _, q := range all {
		if q.index == index && q.parent == netlink.HANDLE_ROOT {
			t.root = q
		}
	}
	if t.root.handle == 0 {
		// A default qdisc (noqueue, pfifo_fast): nothing set.
		return tree{}
	}
	for _, q := range all {
		if q.index == index && q.parent != netlink.HANDLE_ROOT && q.parent&0xffff_0000 == t.root.handle {
			t.child = q
		}
	}
	return t
}

// Egress reads the egress queue of the interface with the given index back
// from the kernel.
func (n *NS) Egress(index int) (Egress, error) {
	all, err := n.Egresses()
	if err != nil {
		return Egress{}, err
	}
	return all[index], nil
}

// Egresses reads back the egress queue of every interface of the
// namespace, by index, in one dump. Interfaces with nothing set map to the
// zero Egress (or are absent).
func (n *NS) Egresses() (map[int]Egress, error) {
	all, err := n.qdiscs()
	if err != nil {
		return nil, err
	}
	links, err := RetryDump(n.h.LinkList)
	if err != nil {
		return nil, err
	}
	out := map[int]Egress{}
	for _, l := range links {
		idx := l.Attrs().Index
		t := treeOf(all, idx)
		if t.root.handle == 0 {
			continue
		}
		out[idx] = t.read(l.Attrs().MTU)
	}
	return out, nil
}

// read turns a tree into parameters, the inverse of SetImpair: a queue
// limit equal to the default for the other parameters reads back as 0, so
// that what SetImpair set reads back equal.
func (t tree) read(mtu int) Egress {
	e := Egress{Qdisc: t.root.kind, Backlog: t.root.backlog, Drops: t.root.drops}
	var tbf *qdisc
	var tbfLimit, netLimit uint32
	switch t.root.kind {
	case "tbf":
		tbf = &t.root
	case "netem":
		netLimit = readNetem(t.root.opts, &e.Impair)
		if t.child.kind == "tbf" {
			tbf = &t.child
			e.Qdisc = "netem+tbf"
			e.Drops += t.child.drops
		}
	default:
		return e
	}
	if tbf != nil {
		e.Rate, tbfLimit = readTbf(tbf.opts)
	}
	frame := uint32(mtu) + frameOverhead
	switch {
	case e.Rate > 0:
		if tbfLimit != tbfFor(e.Impair, mtu).limit {
			e.Limit = int((tbfLimit + frame/2) / frame)
		}
	case netLimit != netemDefaultLimit:
		e.Limit = int(netLimit)
	}
	return e
}

// readTbf reads a tbf's rate (bits per second) and queue limit (bytes).
func readTbf(opts []byte) (rate uint64, limit uint32) {
	attrs, err := nl.ParseRouteAttr(opts)
	if err != nil {
		return 0, 0
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case nl.TCA_TBF_PARMS:
			if len(a.Value) >= nl.SizeofTcTbfQopt {
				o := nl.DeserializeTcTbfQopt(a.Value)
				if rate == 0 {
					rate = uint64(o.Rate.Rate)
				}
				limit = o.Limit
			}
		case nl.TCA_TBF_RATE64:
			if len(a.Value) >= 8 {
				rate = native.Uint64(a.Value)
			}
		}
	}
	return rate * 8, limit
}

// readNetem reads netem's options into im and returns its limit.
func readNetem(opts []byte, im *Impair) uint32 {
	if len(opts) < nl.SizeofTcNetemQopt {
		return 0
	}
	o := *nl.DeserializeTcNetemQopt(opts)
	im.Delay = time.Duration(o.Latency) << pschedShift
	im.Jitter = time.Duration(o.Jitter) << pschedShift
	im.Loss = percent(o.Loss)
	im.Duplicate = percent(o.Duplicate)
	if o.Gap > 0 {
		im.Reorder = 100
	}
	// The attributes follow the struct, aligned.
	rest := opts[min(len(opts), (nl.SizeofTcNetemQopt+3)&^3):]
	attrs, err := nl.ParseRouteAttr(rest)
	if err != nil {
		return o.Limit
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case nl.TCA_NETEM_REORDER:
			if len(a.Value) >= 8 {
				im.Reorder = percent(native.Uint32(a.Value))
			}
		case nl.TCA_NETEM_CORRUPT:
			if len(a.Value) >= 8 {
				im.Corrupt = percent(native.Uint32(a.Value))
			}
		case tcaNetemLatency64:
			if len(a.Value) >= 8 {
				im.Delay = time.Duration(native.Uint64(a.Value))
			}
		case tcaNetemJitter64:
			if len(a.Value) >= 8 {
				im.Jitter = time.Duration(native.Uint64(a.Value))
			}
		}
	}
	if im.Delay == 0 {
		// netem keeps a reorder setting it cannot use without a delay.
		im.Reorder = 0
	}
	return o.Limit
}

// NetemAvailable reports whether the running kernel has sch_netem, built
// in or as a module (which the probe loads, as tc would). It tries the real
// thing: a netem qdisc on the loopback of a throwaway network namespace
// that lives on one thread, which then exits with it. The answer is kept
// for the life of the process. It needs CAP_NET_ADMIN and CAP_SYS_ADMIN.
func NetemAvailable() (bool, error) { return netemProbe() }

var netemProbe = sync.OnceValues(probeNetem)

func probeNetem() (bool, error) {
	type result struct {
		ok  bool
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread moves to a new namespace and never comes back: it
		// stays locked, so the runtime ends it when this goroutine
		// returns, and the namespace goes with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("probe sch_netem: new network namespace: %w", err)}
			return
		}
		// Not bound to a namespace: the socket opens in this thread's.
		s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
		if err != nil {
			ch <- result{err: fmt.Errorf("probe sch_netem: %w", err)}
			return
		}
		defer s.Close()
		n := &NS{socks: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}}
		im := Impair{Delay: time.Millisecond}
		err = n.putQdisc(1, netlink.HANDLE_ROOT, handleNetem, "netem", netemOptions(im, netemDefaultLimit))
		switch {
		case err == nil:
			ch <- result{ok: true}
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
			ch <- result{ok: false}
		default:
			ch <- result{err: fmt.Errorf("probe sch_netem: %w", err)}
		}
	}()
	r := <-ch
	return r.ok, r.err
}

// SetMTU sets the MTU of the interface with the given index.
func (n *NS) SetMTU(index, mtu int) error {
	if err := n.h.LinkSetMTU(byIndex(index, ""), mtu); err != nil {
		return fmt.Errorf("set mtu %d: %w", mtu, err)
	}
	return nil
}

// Restore gives an interface that was down back what going down took from
// it: its addresses (the kernel removes IPv6 ones) and the static routes
// through it (the kernel removes those too). Both are replaced, not added,
// so that what survived is no error.
func (n *NS) Restore(index int, addrs []netip.Prefix, routes []Route) error {
	var errs []error
	for _, p := range addrs {
		if err := n.h.AddrReplace(byIndex(index, ""), nlAddr(p)); err != nil {
			errs = append(errs, fmt.Errorf("address %s: %w", p, err))
		}
	}
	for _, r := range routes {
		if err := n.h.RouteReplace(nlRoute(r)); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}
