package capture

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/netns"
	"golang.org/x/sys/unix"
)

// The benchmarks capture UDP on one veth while a generator in namespace a sends small
// datagrams to namespace b as fast as it can (or at a set rate), and report the rate captured
// and the kernel's drops. BenchmarkTcpdump does the same with tcpdump for comparison:
//
//	go test -run X -bench . -benchtime 2000000x ./capture
//
// Set TOPO_BENCH_RATE (packets/s) to pace the generator, to find the highest rate captured
// without drops, and TOPO_BENCH_SENDERS to send from several goroutines (each with its own
// socket) so that the generator, not the capture, is not the bottleneck. TOPO_BENCH_BUF sets
// topo's ring size in bytes.

// socketIn creates a socket inside the network namespace held by ns.
func socketIn(t testing.TB, ns *os.File, domain, typ int) int {
	t.Helper()
	fd, err := netns.Socket(int(ns.Fd()), domain, typ, 0)
	if err != nil {
		t.Fatalf("socket in namespace: %v", err)
	}
	return fd
}

// blaster sends 18-byte UDP datagrams (64-byte frames) from a to b:9 until stopped.
type blaster struct {
	stop chan struct{}
	done sync.WaitGroup
	sent atomic.Uint64
}

func startBlaster(t testing.TB, n *testNet, rate int) *blaster {
	t.Helper()
	// A socket bound in b takes the datagrams (and drops them when full) so that b sends no
	// port-unreachable errors back.
	sink := socketIn(t, n.b, unix.AF_INET, unix.SOCK_DGRAM)
	t.Cleanup(func() { unix.Close(sink) })
	if err := unix.Bind(sink, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{192, 0, 2, 2}}); err != nil {
		t.Fatalf("bind sink: %v", err)
	}
	fd := socketIn(t, n.a, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{192, 0, 2, 2}}); err != nil {
		unix.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	bl := &blaster{stop: make(chan struct{})}
	senders, _ := strconv.Atoi(os.Getenv("TOPO_BENCH_SENDERS"))
	for s := 0; s < max(1, senders); s++ {
		fd := fd
		if s > 0 {
			fd = socketIn(t, n.a, unix.AF_INET, unix.SOCK_DGRAM)
			if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{192, 0, 2, 2}}); err != nil {
				unix.Close(fd)
				t.Fatalf("connect: %v", err)
			}
		}
		bl.send(fd, rate/max(1, senders))
	}
	t.Cleanup(bl.halt)
	return bl
}

// send starts a goroutine that sends on fd, at rate packets/s if rate > 0, and closes fd.
func (bl *blaster) send(fd, rate int) {
	bl.done.Add(1)
	go func() {
		defer bl.done.Done()
		defer unix.Close(fd)
		payload := make([]byte, 18)
		start := time.Now()
		var sent uint64
		for {
			select {
			case <-bl.stop:
				return
			default:
			}
			for i := 0; i < 64; i++ {
				if _, err := unix.Write(fd, payload); err == nil {
					sent++
				}
			}
			bl.sent.Add(64)
			if rate > 0 {
				due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
		}
	}()
}

func (bl *blaster) halt() {
	select {
	case <-bl.stop:
	default:
		close(bl.stop)
	}
	bl.done.Wait()
}

func benchRate() int {
	r, _ := strconv.Atoi(os.Getenv("TOPO_BENCH_RATE"))
	return r
}

// TestMain doubles as the capture process of BenchmarkCapture: run with TOPO_CAPTURE_HELPER
// set, the test binary captures as `topo capture` would and prints tcpdump-style statistics,
// so that topo and tcpdump are measured alike, each as a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("TOPO_CAPTURE_HELPER") == "" {
		os.Exit(m.Run())
	}
	os.Exit(captureHelper())
}

func captureHelper() int {
	f, err := ParseFormat(os.Getenv("TOPO_CAPTURE_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	count, _ := strconv.Atoi(os.Getenv("TOPO_CAPTURE_COUNT"))
	bufSize, _ := strconv.Atoi(os.Getenv("TOPO_BENCH_BUF"))
	out, err := os.Create(os.Getenv("TOPO_CAPTURE_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := Source{Name: "b:v1", NetNS: os.Getenv("TOPO_CAPTURE_NETNS"), Iface: "v1"}
	opt := Options{Format: f, Filter: os.Getenv("TOPO_CAPTURE_FILTER"), Count: count, BufferSize: bufSize,
		Ready: func() { fmt.Fprintln(os.Stderr, "listening on", src.Name) }}
	st, err := Run(ctx, []Source{src}, opt, out)
	fmt.Fprintf(os.Stderr, "%d packets captured\n%d packets received by filter\n%d packets dropped by kernel\n",
		st.Captured, st.Received, st.Dropped)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func BenchmarkCapture(b *testing.B) {
	for _, f := range []Format{PCAP, PCAPNG} {
		b.Run(f.String(), func(b *testing.B) {
			n := newTestNet(b)
			file := filepath.Join(b.TempDir(), "bench."+f.String())
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "TOPO_CAPTURE_HELPER=1", "TOPO_CAPTURE_FORMAT="+f.String(),
				"TOPO_CAPTURE_COUNT="+strconv.Itoa(b.N), "TOPO_CAPTURE_FILE="+file, "TOPO_CAPTURE_FILTER=udp",
				"TOPO_CAPTURE_NETNS="+n.bPath)
			measure(b, n, cmd)
		})
	}
}

func BenchmarkTcpdump(b *testing.B) {
	requireTool(b, "tcpdump")
	for _, buf := range []int{0, 16 << 10} { // tcpdump's default (2 MiB) and topo's (16 MiB), in KiB
		b.Run(fmt.Sprintf("buffer=%dKiB", buf), func(b *testing.B) {
			n := newTestNet(b)
			file := filepath.Join(b.TempDir(), "bench.pcap")
			args := []string{"--net=/proc/self/fd/3", "--", "tcpdump", "-Z", "root", "-n", "-i", "v1", "-w", file, "-c", strconv.Itoa(b.N)}
			if buf > 0 {
				args = append(args, "-B", strconv.Itoa(buf))
			}
			cmd := exec.Command("nsenter", append(args, "udp")...)
			cmd.ExtraFiles = []*os.File{n.b}
			measure(b, n, cmd)
		})
	}
}

var tcpdumpStat = regexp.MustCompile(`(?m)^(\d+) packets (captured|received by filter|dropped by kernel)$`)

// measure runs a capture process that stops by itself after b.N packets, with the generator
// sending to it, and reports its rate, its kernel drops and the CPU time it used per packet.
func measure(b *testing.B, n *testNet, cmd *exec.Cmd) {
	bl := startBlaster(b, n, benchRate())
	time.Sleep(50 * time.Millisecond) // past ARP
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Both say "listening on" once their socket is bound.
	sc := bufio.NewScanner(stderr)
	var start time.Time
	var rest bytes.Buffer
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte("listening on")) {
			start = time.Now()
			break
		}
		rest.Write(sc.Bytes())
	}
	for sc.Scan() {
		rest.Write(sc.Bytes())
		rest.WriteByte('\n')
	}
	err = cmd.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	bl.halt()
	if err != nil || start.IsZero() {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, rest.String())
	}
	got := map[string]float64{}
	for _, m := range tcpdumpStat.FindAllStringSubmatch(rest.String(), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		got[m[2]] = v
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	b.ReportMetric(got["captured"]/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(got["dropped by kernel"], "drops")
	b.ReportMetric(float64(cpu.Nanoseconds())/(got["captured"]+1), "cpu-ns/pkt")
	b.ReportMetric(float64(cmd.ProcessState.SystemTime().Nanoseconds())/(got["captured"]+1), "sys-ns/pkt")
}
