package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

const (
	// retireMs bounds how long a packet can sit in a partly filled kernel block.
	retireMs = 10
	// reorderWindow is how long a packet is held back, when some source has nothing to offer,
	// in case that source is about to hand over an older one. Blocks are handed over within
	// retireMs, so a packet is out of order in the output only if its source was more than
	// this late.
	reorderWindow = 5 * retireMs * time.Millisecond
	// stopGrace is how long Run keeps reading after ctx ends or Duration passes, so that
	// packets sent before then and still in partly filled blocks are written.
	stopGrace = 2*retireMs*time.Millisecond + 5*time.Millisecond
	// writeBuffer is the output buffer; it is flushed whenever the capture goes idle. Small
	// enough to stay in the CPU cache while the kernel copies it out: 1 MiB doubled the system
	// time per packet of writing a file.
	writeBuffer = 1 << 16
)

// Run captures from every source and writes what it captures to w in opt.Format, until ctx
// ends, opt.Count packets have been written or opt.Duration has passed. Several sources need
// PCAPNG or Text; their packets are written in timestamp order (held back at most 50 ms to
// merge them). When Run returns, everything captured has been written and flushed to w, also
// when ctx was cancelled; ending because of ctx, Count or Duration is not an error.
//
// Run must run as root (CAP_NET_RAW in the sources' namespaces and CAP_SYS_ADMIN to enter
// them). It enters each source's namespace only to create the socket, on a thread of its own.
// It reads on the calling goroutine, with one more goroutine per source that waits in the
// runtime's poller while the source is idle, and leaves nothing behind: when it returns,
// those goroutines have ended and every socket and ring is closed. A source whose interface
// disappears during the capture stops delivering; the others go on, and Run then returns
// that source's error (wrapping ENETDOWN) alongside the stats. An invalid filter is a
// *FilterError before any socket is opened.
func Run(ctx context.Context, srcs []Source, opt Options, w io.Writer) (st Stats, err error) {
	if err := opt.validate(len(srcs)); err != nil {
		return Stats{}, err
	}
	progs := map[layers.LinkType][]bpf.RawInstruction{}
	compile := func(lt layers.LinkType) ([]bpf.RawInstruction, error) {
		if p, ok := progs[lt]; ok {
			return p, nil
		}
		p, err := Compile(opt.Filter, lt, opt.Snaplen)
		if err != nil {
			return nil, err
		}
		progs[lt] = p
		return p, nil
	}
	if _, err := compile(layers.LinkTypeEthernet); err != nil {
		return Stats{}, err
	}

	cfg := ringSizes(len(srcs), opt.Snaplen, opt.BufferSize)
	c := &capturer{limit: uint64(opt.Count), events: make(chan watchEvent, len(srcs))}
	defer func() {
		err = errors.Join(err, c.close())
	}()
	ifs := make([]iface, 0, len(srcs))
	for _, s := range srcs {
		r, err := openRing(s, cfg, compile)
		if err != nil {
			return Stats{}, fmt.Errorf("capture %s: %w", s.name(), err)
		}
		c.rings = append(c.rings, r)
		c.starts = append(c.starts, time.Now().UnixNano())
		ifs = append(ifs, iface{name: s.name(), linkType: r.linkType, snaplen: opt.Snaplen})
	}
	for i, r := range c.rings {
		c.watchers.Add(1)
		// The arguments are evaluated here: closing the ring clears r.want, perhaps before
		// the goroutine first runs.
		go func(want <-chan int) {
			defer c.watchers.Done()
			r.watch(i, want, c.events)
		}(r.want)
	}

	if opt.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Duration)
		defer cancel()
	}

	c.bw = bufio.NewWriterSize(w, writeBuffer)
	c.out = newOutput(opt.Format)
	if err := c.out.begin(c.bw, ifs); err != nil {
		return Stats{}, fmt.Errorf("capture: write: %w", err)
	}
	if opt.Ready != nil {
		opt.Ready()
	}
	loopErr := c.loop(ctx)
	st, err = c.finish(loopErr == nil)
	return st, errors.Join(loopErr, err)
}

// ringSizes picks the ring geometry: blocks that hold a packet of the full snapshot length,
// 16 MiB per source for up to 8 sources, 128 MiB shared beyond, but at least two blocks each
// (1 MiB at the default snapshot length: a smaller -s shrinks them for very many sources).
func ringSizes(nsrc, snaplen, bufSize int) ringConfig {
	block := 128 << 10
	for block < snaplen+512 { // room for the block header, tpacket3_hdr, sockaddr_ll, alignment
		block *= 2
	}
	if bufSize == 0 {
		bufSize = min(16<<20, (128<<20)/nsrc)
	}
	return ringConfig{blockSize: block, blocks: max(2, bufSize/block), retireMs: retireMs}
}

// capturer is the state of one Run: one goroutine reads every ring and writes the output,
// and a watcher goroutine per ring waits for the kernel when that ring is empty.
type capturer struct {
	rings  []*ring
	starts []int64
	out    output
	bw     *bufio.Writer
	limit  uint64

	pkt      packet
	captured uint64
	dirty    bool // written since the last flush
	full     bool // limit reached

	events   chan watchEvent // from the watchers; room for one per ring
	watchers sync.WaitGroup
	timer    *time.Timer
}

// loop reads until a stop and writes what it reads.
func (c *capturer) loop(ctx context.Context) error {
	stopping := false
	var graceEnd int64
	done := ctx.Done()
	for {
		now := time.Now().UnixNano()
		draining := stopping && now >= graceEnd
		if draining {
			// A bounded last pass: what the kernel has handed over, at most one lap of each ring.
			for _, r := range c.rings {
				r.budget = r.cfg.blocks
			}
		}
		wait, held, err := c.emit(now, draining)
		if err != nil {
			return err
		}
		if c.full || draining {
			return nil
		}
		if c.dirty {
			if err := c.bw.Flush(); err != nil {
				return fmt.Errorf("capture: write: %w", err)
			}
			c.dirty = false
		}

		// Sleep until a watcher reports a block, a held-back packet is due, a failed ring's
		// last block is due, or the capture is to stop.
		alive, ready := false, 0
		for _, r := range c.rings {
			if r.err != nil {
				// The kernel still hands over the block it was filling when the interface
				// went away, at its retire timeout: wait for it before giving up on the ring.
				if left := r.errAt + int64(stopGrace) - now; left > 0 {
					alive = true
					if wait < 0 || left < wait {
						wait = left
					}
				}
				continue
			}
			alive = true
			if r.ready() {
				ready++
			} else if !r.watching {
				r.watching = true
				r.want <- r.cur
			}
		}
		if ready > held {
			// A block came in since emit looked (while flushing, say): go round again rather
			// than wait for news of it.
			continue
		}
		if !alive && wait < 0 {
			return nil // every interface went away and everything they delivered is written
		}
		if stopping && (wait < 0 || graceEnd-now < wait) {
			wait = graceEnd - now
		}
		var timeout <-chan time.Time
		if wait >= 0 {
			timeout = c.after(time.Duration(wait))
		}
		select {
		case ev := <-c.events:
			c.event(ev)
		case <-done:
			stopping, done = true, nil
			graceEnd = time.Now().UnixNano() + int64(stopGrace)
		case <-timeout:
		}
	}
}

// after returns the reused timer's channel, firing after d.
func (c *capturer) after(d time.Duration) <-chan time.Time {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	return c.timer.C
}

// event takes in a watcher's report: the awaited block is there, or the socket failed (the
// interface went away: ENETDOWN).
func (c *capturer) event(ev watchEvent) {
	r := c.rings[ev.ring]
	r.watching = false
	if ev.err == nil {
		return
	}
	r.errAt = time.Now().UnixNano()
	r.err = fmt.Errorf("capture %s: %w", r.name, ev.err)
}

// emit writes waiting packets in timestamp order. A packet is written at once when every live
// source has one waiting (the oldest of them cannot be preceded any more), else once it is
// older than the reorder window, or at once when draining. It returns how long until the
// oldest held-back packet is due (-1 when none waits) and how many rings hold packets back.
func (c *capturer) emit(now int64, draining bool) (wait int64, held int, err error) {
	for {
		best, all, nready := -1, true, 0
		var bestTs int64
		for i, r := range c.rings {
			if r.ready() {
				nready++
				if t := r.ts(); best < 0 || t < bestTs {
					best, bestTs = i, t
				}
			} else if r.err == nil {
				all = false
			}
		}
		if best < 0 {
			return -1, 0, nil
		}
		if !all && !draining {
			if d := bestTs + int64(reorderWindow) - now; d > 0 {
				return d, nready, nil
			}
		}
		r := c.rings[best]
		r.fill(&c.pkt)
		err := c.out.packet(best, &c.pkt)
		r.advance()
		if err != nil {
			return -1, 0, fmt.Errorf("capture: write: %w", err)
		}
		r.captured++
		c.captured++
		c.dirty = true
		if c.limit > 0 && c.captured >= c.limit {
			c.full = true
			return -1, 0, nil
		}
	}
}

// finish collects the kernel's counters and, unless writing already failed, ends the output
// and flushes it.
func (c *capturer) finish(write bool) (Stats, error) {
	var st Stats
	var errs []error
	end := time.Now().UnixNano()
	ist := make([]ifaceStats, len(c.rings))
	for i, r := range c.rings {
		errs = append(errs, r.readStats(), r.err)
		ist[i] = ifaceStats{start: c.starts[i], end: end, captured: r.captured, received: r.received, dropped: r.dropped}
		st.Captured += r.captured
		st.Received += r.received
		st.Dropped += r.dropped
	}
	if write {
		if err := c.out.end(ist); err != nil {
			errs = append(errs, err)
		} else if err := c.bw.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("capture: write: %w", err))
		}
	}
	return st, errors.Join(errs...)
}

// close releases every ring: sockets first, which ends the watchers' waits, then, once no
// watcher can look at a ring any more, the ring memory.
func (c *capturer) close() error {
	var errs []error
	for _, r := range c.rings {
		errs = append(errs, r.closeFile())
	}
	c.watchers.Wait()
	for _, r := range c.rings {
		errs = append(errs, r.close())
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	return errors.Join(errs...)
}
