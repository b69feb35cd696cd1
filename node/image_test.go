package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
)

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// busyboxRoot builds the BusyBox root filesystem once per test binary.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	rootfsOnce.Do(func() {
		if _, err := os.Stat("/bin/busybox"); err != nil {
			rootfsErr = err
			return
		}
		dir, err := os.MkdirTemp("", "topo-rootfs")
		if err != nil {
			rootfsErr = err
			return
		}
		rootfsDir = filepath.Join(dir, "rootfs")
		out, err := exec.Command("../scripts/rootfs.sh", rootfsDir).CombinedOutput()
		if err != nil {
			rootfsErr = err
			t.Logf("rootfs.sh: %s", out)
		}
	})
	if rootfsErr != nil {
		t.Skipf("needs a BusyBox root filesystem (Debian busybox-static; make rootfs): %v", rootfsErr)
	}
	return rootfsDir
}

func TestImageNode(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	img := busyboxRoot(t)
	sock, _ := startNode(t, Config{Lab: "t", Name: "img1", Image: img, Env: []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin"}})
	if out, code := run(t, sock, "cat", "/etc/os-release"); code != 0 || !strings.Contains(out, "topo BusyBox") {
		t.Errorf("os-release in the image node: %d %q", code, out)
	}
	if out, _ := run(t, sock, "hostname"); out != "img1\n" {
		t.Errorf("hostname %q", out)
	}
	// The node sees its own root, not the host's.
	if _, code := run(t, sock, "test", "-e", "/usr/local/go"); code == 0 {
		t.Error("the image node sees the host's files")
	}
	for _, d := range []string{"/dev/null", "/dev/zero", "/dev/urandom", "/dev/tty", "/dev/pts/ptmx"} {
		if _, code := run(t, sock, "test", "-e", d); code != 0 {
			t.Errorf("%s missing in the image node", d)
		}
	}
	if out, _ := run(t, sock, "sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"); strings.TrimSpace(out) != "4" {
		t.Errorf("devices: %q", out)
	}
	// Writes go to the node's own layer, never to the image.
	if _, code := run(t, sock, "sh", "-c", "echo mine > /etc/newfile && rm /bin/ls"); code != 0 {
		t.Error("cannot write in the image node")
	}
	if _, err := os.Stat(filepath.Join(img, "etc", "newfile")); err == nil {
		t.Error("a node write reached the image folder")
	}
	if _, err := os.Lstat(filepath.Join(img, "bin", "ls")); err != nil {
		t.Error("a node delete reached the image folder")
	}
	// The host's old root is gone from the node's mount table.
	if out, _ := run(t, sock, "cat", "/proc/self/mountinfo"); strings.Contains(out, " /tmp/root ") {
		t.Errorf("old root still mounted:\n%s", out)
	}
	// A terminal works (the node's own devpts).
	m, slave := hostPTY(t)
	sc := watch(m)
	res := make(chan int, 1)
	go func() {
		code, _ := Run(sock, Cmd{Argv: []string{"/bin/sh", "-c", "tty; exit 4"}, Stdin: slave, Stdout: slave, Stderr: slave, TTY: true})
		res <- code
	}()
	sc.waitFor(t, "/dev/pts/0")
	if code := <-res; code != 4 {
		t.Errorf("tty in image node: status %d", code)
	}
}

func TestUserNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	shared := t.TempDir()
	os.Chmod(shared, 0o777)
	hostFile := filepath.Join(shared, "root-owned")
	os.WriteFile(hostFile, []byte("host\n"), 0o644)
	p, dir := startNode(t, Config{Lab: "t", Name: "u1", UserNS: true,
		Mounts: []Mount{{Src: shared, Dst: "/run/shared"}}})
	sock := p
	if out, _ := run(t, sock, "id", "-u"); out != "0\n" {
		t.Errorf("id -u in the node: %q", out)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/uid_map")
	if f := strings.Fields(string(b)); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(UserNSBase) {
		t.Errorf("uid_map seen from the host: %q", b)
	}
	// A file node root creates is owned by the mapped uid on the host.
	if _, code := run(t, sock, "sh", "-c", "echo x > /run/shared/made-in-node"); code != 0 {
		t.Fatal("node root cannot write a world-writable shared folder")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(shared, "made-in-node"), &st); err != nil || st.Uid != UserNSBase {
		t.Errorf("file made by node root: uid %d, %v; want %d", st.Uid, err, UserNSBase)
	}
	// Node root cannot change a host root's file.
	if _, code := run(t, sock, "sh", "-c", "echo pwned > /run/shared/root-owned"); code == 0 {
		t.Error("node root wrote a host root-owned file")
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "host\n" {
		t.Errorf("host file changed: %q", b)
	}
	// The node still works as a machine: hostname, loopback, sysctls.
	if out, _ := run(t, sock, "hostname"); out != "u1\n" {
		t.Errorf("hostname %q", out)
	}
	if _, code := run(t, sock, "ping", "-c", "1", "-W", "1", "127.0.0.1"); code != 0 {
		t.Error("ping loopback in a userns node")
	}
	// Its init cannot make its log in host root's folder: it was given it,
	// and exec lines' output lands there.
	if err := RunScript(sock, []string{"echo from-userns"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		b, _ := os.ReadFile(LogPath(dir, "u1"))
		if strings.Contains(string(b), "from-userns\n") {
			break
		}
		if i == 250 {
			t.Fatalf("userns node's log: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClockOffset(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	const days = 30
	sock, _ := startNode(t, Config{Lab: "t", Name: "clk", ClockOffset: days * 24 * time.Hour})
	out, _ := run(t, sock, "cat", "/proc/uptime")
	f := strings.Fields(out)
	if len(f) == 0 {
		t.Fatalf("uptime: %q", out)
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	hb, _ := os.ReadFile("/proc/uptime")
	host, _ := strconv.ParseFloat(strings.Fields(string(hb))[0], 64)
	if d := up - host; d < days*86400-60 || d > days*86400+60 {
		t.Errorf("node uptime %.0f s, host %.0f s: offset %.0f s, want %d", up, host, d, days*86400)
	}
	// A cgroup namespace: the node's cgroup is its root.
	if out, _ := run(t, sock, "cat", "/proc/self/cgroup"); !strings.Contains(out, ":/\n") {
		t.Errorf("cgroup in the node: %q", out)
	}
}

func TestImageTarball(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	img := busyboxRoot(t)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", img, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if !IsTarball(tarball) || IsTarball(img) {
		t.Fatal("IsTarball")
	}
	dir := filepath.Join(t.TempDir(), "x")
	if err := ExtractImage(tarball, dir); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin", "ls")); err != nil || l != "/bin/busybox" {
		t.Errorf("bin/ls: %q %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode: %v %v", st.Mode(), err)
	}
	sock, _ := startNode(t, Config{Lab: "t", Name: "tar1", Image: dir, Env: []string{"PATH=/bin:/sbin"}})
	if out, _ := run(t, sock, "cat", "/etc/os-release"); !strings.Contains(out, "topo BusyBox") {
		t.Errorf("os-release from the unpacked tarball: %q", out)
	}
	// An entry that climbs out of the folder is confined to it, as tar
	// itself strips leading ../.
	evil := filepath.Join(t.TempDir(), "evil.tar")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "x"), []byte("x"), 0o644)
	if out, err := exec.Command("tar", "-cf", evil, "-C", src, "--transform", "s,^x,../../escaped,", "x").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	outer := t.TempDir()
	bad := filepath.Join(outer, "a", "b")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	if err := ExtractImage(evil, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outer, "escaped")); err == nil {
		t.Error("an entry escaped the image folder")
	}
	if _, err := os.Stat(filepath.Join(bad, "escaped")); err != nil {
		t.Errorf("the climbing entry is not confined to the folder: %v", err)
	}
}
