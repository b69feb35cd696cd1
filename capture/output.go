package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gopacket/gopacket/layers"
)

// packet is one captured packet as the run loop hands it to an output. data points into the
// kernel ring (or a scratch buffer) and is valid only during the call.
type packet struct {
	ts      int64  // nanoseconds since the Unix epoch
	data    []byte // captured bytes, at most the snapshot length
	length  uint32 // length on the wire
	pkttype uint8  // PACKET_HOST, PACKET_OUTGOING, ... from sockaddr_ll
}

// Packet types as in linux/if_packet.h; they are part of the kernel ABI.
const (
	pktHost      = 0
	pktBroadcast = 1
	pktMulticast = 2
	pktOtherHost = 3
	pktOutgoing  = 4
)

// iface describes one source for an output.
type iface struct {
	name     string
	linkType layers.LinkType
	snaplen  int
}

// ifaceStats are one source's counters, for pcapng interface statistics blocks.
type ifaceStats struct {
	start, end int64 // nanoseconds since the Unix epoch
	captured   uint64
	received   uint64
	dropped    uint64
}

// output writes one format to a buffered writer. The run loop flushes the writer; outputs
// never do, so that a burst of packets becomes a few large writes.
type output interface {
	begin(w *bufio.Writer, ifs []iface) error
	packet(src int, p *packet) error
	end(st []ifaceStats) error
}

func newOutput(f Format) output {
	switch f {
	case PCAP:
		return &pcapOutput{}
	case PCAPNG:
		return &pcapngOutput{}
	default:
		return newTextOutput()
	}
}

// pcapOutput writes the classic libpcap format with nanosecond timestamps (magic 0xa1b23c4d),
// which tcpdump, tshark and Wireshark read.
type pcapOutput struct {
	w   *bufio.Writer
	hdr [16]byte
}

func (o *pcapOutput) begin(w *bufio.Writer, ifs []iface) error {
	o.w = w
	var h [24]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], 0xa1b23c4d)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	// thiszone and sigfigs stay 0.
	le.PutUint32(h[16:], uint32(ifs[0].snaplen))
	le.PutUint32(h[20:], uint32(ifs[0].linkType))
	_, err := w.Write(h[:])
	return err
}

func (o *pcapOutput) packet(_ int, p *packet) error {
	le := binary.LittleEndian
	le.PutUint32(o.hdr[0:], uint32(p.ts/1e9))
	le.PutUint32(o.hdr[4:], uint32(p.ts%1e9))
	le.PutUint32(o.hdr[8:], uint32(len(p.data)))
	le.PutUint32(o.hdr[12:], p.length)
	if _, err := o.w.Write(o.hdr[:]); err != nil {
		return err
	}
	_, err := o.w.Write(p.data)
	return err
}

func (o *pcapOutput) end([]ifaceStats) error { return nil }

// pcapngOutput writes one pcapng section: a section header, one interface description block
// per source (if_name, nanosecond if_tsresol), enhanced packet blocks carrying the direction in
// epb_flags, and an interface statistics block per source at the end.
type pcapngOutput struct {
	w    *bufio.Writer
	hdr  [28]byte
	tail [3 + 4 + 4 + 4 + 4]byte // padding, epb_flags, opt_endofopt, total length
}

// pcapng block types and options (draft-ietf-opsawg-pcapng).
const (
	ngSHB = 0x0A0D0D0A
	ngIDB = 0x00000001
	ngEPB = 0x00000006
	ngISB = 0x00000005

	ngOptEnd        = 0
	ngOptShbUserApp = 4
	ngOptIfName     = 2
	ngOptIfTsresol  = 9
	ngOptEpbFlags   = 2
	ngOptIsbStart   = 2
	ngOptIsbEnd     = 3
	ngOptIsbIfRecv  = 4
	ngOptIsbIfDrop  = 5
	ngOptIsbUsrDel  = 8
)

// ngBlock assembles a block with options in memory; it is used for the few blocks written
// outside the per-packet path.
type ngBlock struct{ b []byte }

func (nb *ngBlock) u16(v uint16) { nb.b = binary.LittleEndian.AppendUint16(nb.b, v) }
func (nb *ngBlock) u32(v uint32) { nb.b = binary.LittleEndian.AppendUint32(nb.b, v) }
func (nb *ngBlock) u64ts(v uint64) {
	// pcapng stores 64-bit timestamps as high word then low word, each in section byte order.
	nb.u32(uint32(v >> 32))
	nb.u32(uint32(v))
}
func (nb *ngBlock) option(code uint16, val []byte) {
	nb.u16(code)
	nb.u16(uint16(len(val)))
	nb.b = append(nb.b, val...)
	for len(nb.b)%4 != 0 {
		nb.b = append(nb.b, 0)
	}
}
func (nb *ngBlock) optionU64(code uint16, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	nb.option(code, b[:])
}
func (nb *ngBlock) optionTS(code uint16, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(v>>32))
	binary.LittleEndian.PutUint32(b[4:], uint32(v))
	nb.option(code, b[:])
}

// write writes the block type, both total lengths and the end-of-options marker if opts.
func (nb *ngBlock) write(w *bufio.Writer, typ uint32, body []byte, opts bool) error {
	if opts {
		nb.u32(0) // opt_endofopt
	}
	total := 12 + len(body) + len(nb.b)
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], uint32(total))
	w.Write(h[:])
	w.Write(body)
	w.Write(nb.b)
	_, err := w.Write(h[4:8])
	return err
}

func (o *pcapngOutput) begin(w *bufio.Writer, ifs []iface) error {
	o.w = w
	var shb [16]byte
	le := binary.LittleEndian
	le.PutUint32(shb[0:], 0x1A2B3C4D) // byte-order magic
	le.PutUint16(shb[4:], 1)
	le.PutUint16(shb[6:], 0)
	le.PutUint64(shb[8:], math.MaxUint64) // section length unknown
	var nb ngBlock
	nb.option(ngOptShbUserApp, []byte("topo capture"))
	if err := nb.write(w, ngSHB, shb[:], true); err != nil {
		return err
	}
	for _, f := range ifs {
		var idb [8]byte
		le.PutUint16(idb[0:], uint16(f.linkType))
		le.PutUint32(idb[4:], uint32(f.snaplen))
		nb = ngBlock{}
		nb.option(ngOptIfName, []byte(f.name))
		nb.option(ngOptIfTsresol, []byte{9}) // 10^-9 s
		if err := nb.write(w, ngIDB, idb[:], true); err != nil {
			return err
		}
	}
	return nil
}

// epbFlags maps a sockaddr_ll packet type to epb_flags: direction in bits 0-1, reception type
// in bits 2-4.
func epbFlags(pkttype uint8) uint32 {
	switch pkttype {
	case pktHost:
		return 1 | 1<<2
	case pktMulticast:
		return 1 | 2<<2
	case pktBroadcast:
		return 1 | 3<<2
	case pktOtherHost:
		return 1 | 4<<2
	case pktOutgoing:
		return 2
	}
	return 0
}

func (o *pcapngOutput) packet(src int, p *packet) error {
	le := binary.LittleEndian
	n := len(p.data)
	pad := (4 - n%4) % 4
	const optLen = 12 // epb_flags (4 + 4) and opt_endofopt (4)
	total := uint32(32 + n + pad + optLen)
	ts := uint64(p.ts)
	le.PutUint32(o.hdr[0:], ngEPB)
	le.PutUint32(o.hdr[4:], total)
	le.PutUint32(o.hdr[8:], uint32(src))
	le.PutUint32(o.hdr[12:], uint32(ts>>32))
	le.PutUint32(o.hdr[16:], uint32(ts))
	le.PutUint32(o.hdr[20:], uint32(n))
	le.PutUint32(o.hdr[24:], p.length)
	if _, err := o.w.Write(o.hdr[:]); err != nil {
		return err
	}
	if _, err := o.w.Write(p.data); err != nil {
		return err
	}
	// Padding, then options and the trailing length share one buffer.
	o.tail[0], o.tail[1], o.tail[2] = 0, 0, 0
	b := o.tail[:pad]
	b = le.AppendUint16(b, ngOptEpbFlags)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, epbFlags(p.pkttype))
	b = le.AppendUint32(b, ngOptEnd)
	b = le.AppendUint32(b, total)
	_, err := o.w.Write(b)
	return err
}

func (o *pcapngOutput) end(st []ifaceStats) error {
	for i, s := range st {
		var body [12]byte
		le := binary.LittleEndian
		le.PutUint32(body[0:], uint32(i))
		le.PutUint32(body[4:], uint32(uint64(s.end)>>32))
		le.PutUint32(body[8:], uint32(uint64(s.end)))
		var nb ngBlock
		nb.optionTS(ngOptIsbStart, uint64(s.start))
		nb.optionTS(ngOptIsbEnd, uint64(s.end))
		nb.optionU64(ngOptIsbIfRecv, s.received)
		nb.optionU64(ngOptIsbIfDrop, s.dropped)
		nb.optionU64(ngOptIsbUsrDel, s.captured)
		if err := nb.write(o.w, ngISB, body[:], true); err != nil {
			return fmt.Errorf("write interface statistics: %w", err)
		}
	}
	return nil
}
