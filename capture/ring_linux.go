package capture

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	tpacketV3 = 2 // enum tpacket_versions: TPACKET_V1, TPACKET_V2, TPACKET_V3

	// Offsets in the TPACKET_V3 ring, from linux/if_packet.h (kernel ABI).
	blockStatusOff = 8  // tpacket_block_desc.hdr.bh1.block_status
	blockNumOff    = 12 // ...num_pkts
	blockFirstOff  = 16 // ...offset_to_first_pkt
	sllOff         = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): the sockaddr_ll
	sllPkttypeOff  = 10 // sockaddr_ll.sll_pkttype
)

// ringConfig sizes a TPACKET_V3 ring.
type ringConfig struct {
	blockSize int // bytes, a power-of-two multiple of the page size, above the snapshot length
	blocks    int
	retireMs  int // the kernel hands over a partly filled block after this long
}

// ring is one source: an AF_PACKET socket bound to one interface and its mapped receive ring.
// The kernel fills blocks and flips their status to TP_STATUS_USER; the reader walks the
// packets of one block at a time, in place, and gives the block back by setting its status to
// TP_STATUS_KERNEL.
type ring struct {
	name     string
	fd       int
	mem      []byte
	cfg      ringConfig
	linkType layers.LinkType

	cur    int    // block the reader is on
	open   bool   // block cur is the reader's
	left   uint32 // packets of block cur not yet read
	off    int    // offset in mem of the next packet's tpacket3_hdr
	budget int    // blocks it may still open (<0: no limit); bounds the final drain

	vlan []byte // scratch for packets whose VLAN tag the kernel took off

	captured, received, dropped uint64
	err                         error // why the source stopped delivering, if it did
	errAt                       int64 // when err was seen, in nanoseconds since the Unix epoch

	// Waiting goes through the Go runtime's poller, so that an idle capture holds no thread
	// in a system call. file owns fd once the socket is bound.
	file     *os.File
	rc       syscall.RawConn
	want     chan int // block numbers for the watcher to wait for
	watching bool     // a wait is outstanding
}

// openRing opens src: a packet socket created in src's namespace, the filter compiled for the
// interface's link type attached, a ring mapped, and only then bound to the interface, so no
// unfiltered packet is ever queued. On error nothing is left open.
func openRing(src Source, cfg ringConfig, compile func(layers.LinkType) ([]bpf.RawInstruction, error)) (_ *ring, err error) {
	fd, err := packetSocketIn(src.NetNS)
	if err != nil {
		return nil, err
	}
	r := &ring{name: src.name(), fd: fd, cfg: cfg, budget: -1}
	defer func() {
		if err != nil {
			r.close()
		}
	}()

	// The socket answers interface ioctls for its own namespace, from any thread.
	ifr, err := unix.NewIfreq(src.Iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", src.Iface, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("no interface %q in %s", src.Iface, nsName(src.NetNS))
		}
		return nil, fmt.Errorf("interface %q: %w", src.Iface, err)
	}
	ifindex := int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return nil, fmt.Errorf("interface %q: hardware type: %w", src.Iface, err)
	}
	switch hatype := ifr.Uint16(); hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		r.linkType = layers.LinkTypeEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		r.linkType = layers.LinkTypeRaw
	default:
		return nil, fmt.Errorf("interface %q: unsupported hardware type %d", src.Iface, hatype)
	}

	prog, err := compile(r.linkType)
	if err != nil {
		return nil, err
	}
	if err := attachFilter(fd, prog); err != nil {
		return nil, fmt.Errorf("interface %q: %w", src.Iface, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, tpacketV3); err != nil {
		return nil, fmt.Errorf("interface %q: TPACKET_V3: %w", src.Iface, err)
	}
	const frameSize = 2048 // only checked by the kernel for V3: packets are packed in blocks
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.blockSize),
		Block_nr:       uint32(cfg.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(cfg.blockSize / frameSize * cfg.blocks),
		Retire_blk_tov: uint32(cfg.retireMs),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("interface %q: receive ring of %d×%d bytes: %w", src.Iface, cfg.blocks, cfg.blockSize, err)
	}
	r.mem, err = unix.Mmap(fd, 0, cfg.blockSize*cfg.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("interface %q: map receive ring: %w", src.Iface, err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("interface %q: bind: %w", src.Iface, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("interface %q: %w", src.Iface, err)
	}
	r.file = os.NewFile(uintptr(fd), r.name)
	if r.rc, err = r.file.SyscallConn(); err != nil {
		return nil, fmt.Errorf("interface %q: %w", src.Iface, err)
	}
	r.want = make(chan int, 1)
	return r, nil
}

// watch runs on a goroutine of its own for the life of the ring: for each block number it is
// given on want, it reports on ready as soon as that block is the reader's, or else at the
// next wake-up of the socket (the kernel signals readable when it retires a block, whichever
// it is, and when it drops a packet), or when the socket reports an error. The reader then
// looks again: a block it read meanwhile cannot leave the watcher waiting for nothing. It
// waits in the runtime's poller, reads only block statuses (atomically) and the socket's
// error, and returns once want is closed or the socket is.
func (r *ring) watch(i int, want <-chan int, ready chan<- watchEvent) {
	rc, mem, blockSize := r.rc, r.mem, r.cfg.blockSize // set before the watcher starts, kept until it ends
	for blk := range want {
		status := (*uint32)(unsafe.Pointer(&mem[blk*blockSize+blockStatusOff]))
		var sockErr error
		woken := false
		err := rc.Read(func(fd uintptr) bool {
			// The poller does not single out a socket error (ENETDOWN when the interface
			// goes away) from other wake-ups: look for one, or this could wait forever.
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
				sockErr = unix.Errno(v)
				return true
			}
			done := woken || atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0
			woken = true
			return done
		})
		if err != nil && errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			err = sockErr
		}
		ready <- watchEvent{ring: i, err: err}
	}
}

// watchEvent says that ring's awaited block is there, or that waiting failed.
type watchEvent struct {
	ring int
	err  error
}

func nsName(path string) string {
	if path == "" {
		return "the current network namespace"
	}
	return path
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// attachFilter attaches a classic BPF program to fd (SO_ATTACH_FILTER).
func attachFilter(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 0xffff {
		return fmt.Errorf("attach filter: %d instructions", len(prog))
	}
	insns := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		insns[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

func (r *ring) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[block*r.cfg.blockSize+blockStatusOff]))
}

func (r *ring) u32(off int) uint32 { return *(*uint32)(unsafe.Pointer(&r.mem[off])) }

// ready reports whether a packet is waiting to be read, giving exhausted blocks back to the
// kernel on the way.
func (r *ring) ready() bool {
	for r.left == 0 {
		if r.open {
			atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
			r.open = false
			if r.cur++; r.cur == r.cfg.blocks {
				r.cur = 0
			}
		}
		if r.budget == 0 || atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER == 0 {
			return false
		}
		if r.budget > 0 {
			r.budget--
		}
		base := r.cur * r.cfg.blockSize
		r.open = true
		r.left = r.u32(base + blockNumOff)
		r.off = base + int(r.u32(base+blockFirstOff))
	}
	return true
}

func (r *ring) hdr() *unix.Tpacket3Hdr { return (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[r.off])) }

// ts is the timestamp of the waiting packet; only after ready.
func (r *ring) ts() int64 {
	h := r.hdr()
	return int64(h.Sec)*1e9 + int64(h.Nsec)
}

// fill describes the waiting packet in p, pointing into the ring; only after ready.
func (r *ring) fill(p *packet) {
	h := r.hdr()
	start := r.off + int(h.Mac)
	end := start + int(h.Snaplen)
	p.ts = int64(h.Sec)*1e9 + int64(h.Nsec)
	p.data = r.mem[start:end:end]
	p.length = h.Len
	p.pkttype = r.mem[r.off+sllOff+sllPkttypeOff]
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 && r.linkType == layers.LinkTypeEthernet && len(p.data) >= 12 {
		// The kernel took the 802.1Q tag off into the header; put it back where it was on the
		// wire, as libpcap does, so files and filters see the frame as sent.
		tpid := uint16(0x8100)
		if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = h.Hv1.Vlan_tpid
		}
		tci := uint16(h.Hv1.Vlan_tci)
		v := append(r.vlan[:0], p.data[:12]...)
		v = append(v, byte(tpid>>8), byte(tpid), byte(tci>>8), byte(tci))
		r.vlan = append(v, p.data[12:]...)
		p.data = r.vlan
		p.length += 4
	}
}

// advance moves past the waiting packet.
func (r *ring) advance() {
	next := int(r.hdr().Next_offset)
	r.left--
	r.off += next
}

// readStats adds the kernel's counters, which reset on every read, to the ring's.
func (r *ring) readStats() error {
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return fmt.Errorf("%s: packet statistics: %w", r.name, err)
	}
	// tp_packets already includes tp_drops.
	r.received += uint64(st.Packets)
	r.dropped += uint64(st.Drops)
	return nil
}

// closeFile closes the socket, which ends a wait of the watcher in progress.
func (r *ring) closeFile() error {
	if r.want != nil {
		close(r.want)
		r.want = nil
	}
	var err error
	switch {
	case r.file != nil:
		err = r.file.Close()
		r.file = nil
	case r.fd >= 0:
		err = unix.Close(r.fd)
	}
	r.fd = -1
	return err
}

// close closes the socket and unmaps the ring; the watcher must have returned.
func (r *ring) close() error {
	err := r.closeFile()
	if r.mem != nil {
		err = errors.Join(err, unix.Munmap(r.mem))
		r.mem = nil
	}
	return err
}
