//go:build linux && cgo

// The init of a node (see node.go): PID 1 of the node's namespaces.
//
// Start re-executes the topo binary as "topo __init DIR NODE" in new
// namespaces. A constructor recognises that command line and runs the init
// here, before the Go runtime starts, and never returns: an idle node then
// costs one small single-threaded process instead of a Go runtime, and
// being single-threaded it can enter a time namespace for all its children
// with one unshare.
//
// The init prepares the node's view of the system, reports on the ready
// descriptor, and then serves the exec protocol (proto.go) on its socket:
// it forks every command of the node and reaps every process that ends in
// it. Everything it gets from the host comes as descriptors (init.h).
//
// Conventions: every descriptor is close-on-exec, every length is bounded,
// a malformed request gets an error reply and never ends the init; errors
// read like Go's ("mount proc on /proc: operation not permitted").

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define TOPO_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define TOPO_CLOSE_RANGE_CLOEXEC (1U << 2)

// NOINLINE keeps the big path buffers of setup steps out of their
// callers' frames: stack touched once stays resident for the node's life.
#define NOINLINE __attribute__((noinline))

#define INIT_ARG "__init"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NODEV (MS_NOSUID | MS_NODEV)
// MAX_REPLY_TEXT bounds the text of an error reply.
#define MAX_REPLY_TEXT 2000
// MAX_FDS is how many descriptors a request may carry (stdin, stdout,
// stderr); more are refused.
#define MAX_FDS 3

// node is the node's name, for error reports.
static const char *node = "?";

// ---------------------------------------------------------------------------
// Errors.

// errbuf holds the message of the last helper that returned -1.
static char errbuf[2 * PATH_MAX + 512];

// errstr is strerror in Go's lower case, so that messages read the same as
// when the init was Go.
static const char *errstr(int e)
{
	static char b[128];
	snprintf(b, sizeof b, "%s", strerror(e));
	if (b[0] >= 'A' && b[0] <= 'Z')
		b[0] = (char)(b[0] - 'A' + 'a');
	return b;
}

__attribute__((format(printf, 1, 2))) static int seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

// write_all writes the whole buffer, retrying short writes.
static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

// log_open makes the init's stdout and stderr its log, in the node folder,
// the first time there is something to write: most nodes never write a
// line, and a file less per node is a cheaper up. A userns node's init
// could not create it there (the folder is host root's): it is given the
// log at start.
static int log_ready;

static void log_open(void)
{
	if (log_ready)
		return;
	log_ready = 1;
	char name[128];
	if (snprintf(name, sizeof name, "%s.log", node) >= (int)sizeof name)
		return;
	int fd = openat(TOPO_FD_DIR, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

// logmsg writes one line to the node's log (the init's stdout), made of
// the given pieces.
static void logmsg(const char *a, const char *b, const char *c)
{
	log_open();
	struct iovec iov[3] = {
		{(void *)a, strlen(a)},
		{(void *)b, strlen(b)},
		{(void *)c, strlen(c)},
	};
	size_t total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
	ssize_t w;
	do
		w = writev(STDOUT_FILENO, iov, 3);
	while (w < 0 && errno == EINTR);
	if (w >= 0 && (size_t)w < total) {
		// A short write (a full disk, a pipe): finish piece by piece.
		size_t done = (size_t)w;
		for (int i = 0; i < 3; i++) {
			if (done >= iov[i].iov_len) {
				done -= iov[i].iov_len;
				continue;
			}
			if (write_all(STDOUT_FILENO, (char *)iov[i].iov_base + done, iov[i].iov_len - done) < 0)
				return;
			done = 0;
		}
	}
}

// fail reports a setup error on the ready descriptor and in the log, and
// ends the init: Start then kills what is left of the node.
__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	char msg[sizeof errbuf + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char out[sizeof msg + 128];
	int n = snprintf(out, sizeof out, "node %s: %s", node, msg);
	if (n > 0)
		(void)write_all(TOPO_FD_READY, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
	n = snprintf(out, sizeof out, "topo init: %s\n", msg);
	log_open();
	if (n > 0)
		(void)write_all(STDERR_FILENO, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
	_exit(1);
}

// ---------------------------------------------------------------------------
// Records: the format of the config and of every protocol message. A
// message is a sequence of records; a record is a key followed by as many
// values as its key takes, every one a NUL-terminated string.

struct keydef {
	const char *key;
	unsigned arity; // at most 3
};

struct rec {
	const char *key; // the keydef's own key, so it may be compared by address
	const char *v[3];
};

static const struct keydef *find_key(const struct keydef *defs, const char *key)
{
	for (; defs->key; defs++)
		if (strcmp(defs->key, key) == 0)
			return defs;
	return NULL;
}

// parse_records splits buf (len bytes) into records of the keys defs
// declares, pointing into buf. It refuses a message that does not end with a
// NUL, an unknown key, a record cut short and more than TOPO_MAX_RECORDS
// records. *out is freed by the caller (also after an error: it is NULL).
static int parse_records(const char *buf, size_t len, const struct keydef *defs, struct rec **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (len == 0 || buf[len - 1] != '\0')
		return seterr("not a sequence of NUL-terminated strings");
	struct rec *recs = NULL;
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *p = buf, *end = buf + len;
		size_t i = 0;
		while (p < end) {
			// buf ends with a NUL: strlen stays inside it.
			const char *key = p;
			p += strlen(p) + 1;
			const struct keydef *d = find_key(defs, key);
			if (d == NULL) {
				free(recs);
				return seterr("unknown key \"%.40s\"", key);
			}
			if (i >= TOPO_MAX_RECORDS) {
				free(recs);
				return seterr("more than %d records", TOPO_MAX_RECORDS);
			}
			if (pass == 1)
				recs[i].key = d->key;
			for (unsigned j = 0; j < d->arity; j++) {
				if (p >= end) {
					free(recs);
					return seterr("record \"%s\" cut short", d->key);
				}
				if (pass == 1)
					recs[i].v[j] = p;
				p += strlen(p) + 1;
			}
			i++;
		}
		if (pass == 0) {
			n = i;
			recs = calloc(n ? n : 1, sizeof *recs);
			if (recs == NULL)
				return seterr("out of memory");
		}
	}
	*out = recs;
	*nout = n;
	return 0;
}

// parse_int parses a decimal integer in [min, max], strictly.
static int parse_int(const char *s, long long min, long long max, long long *out)
{
	if (*s == '\0')
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

// ---------------------------------------------------------------------------
// Config.

static const struct keydef config_keys[] = {
	{"name", 1}, {"lab", 1}, {"env", 1}, {"sysctl", 2}, {"mount", 3}, // src, dst, "ro" or "rw"
	{"image", 1}, {"forward", 0}, {"noipv6", 0}, {"userns", 0}, {"clock", 1},
	{NULL, 0},
};

struct config {
	struct rec *recs;
	size_t nrecs;
	const char *image; // NULL: the node sees the host's files
	size_t nmounts;
	int forward, noipv6, userns, has_clock;
	long long clock; // seconds
};

static struct config cfg;

// read_config reads and parses the config on its descriptor. Its buffer
// lives as long as the init: records point into it.
NOINLINE static void read_config(void)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (b == NULL)
		fail("read config: out of memory");
	for (;;) {
		if (n == cap) {
			if (cap > TOPO_MAX_MSG)
				fail("read config: longer than %d bytes", TOPO_MAX_MSG);
			cap *= 2;
			char *nb = realloc(b, cap);
			if (nb == NULL)
				fail("read config: out of memory");
			b = nb;
		}
		ssize_t r = read(TOPO_FD_CONFIG, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("read config: %s", errstr(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(TOPO_FD_CONFIG);
	if (n > TOPO_MAX_MSG)
		fail("read config: longer than %d bytes", TOPO_MAX_MSG);
	if (parse_records(b, n, config_keys, &cfg.recs, &cfg.nrecs) < 0)
		fail("read config: %s", errbuf);
	for (size_t i = 0; i < cfg.nrecs; i++) {
		const struct rec *r = &cfg.recs[i];
		const char *k = r->key;
		if (strcmp(k, "image") == 0)
			cfg.image = r->v[0];
		else if (strcmp(k, "mount") == 0) {
			if (strcmp(r->v[2], "ro") != 0 && strcmp(r->v[2], "rw") != 0)
				fail("read config: mount mode \"%.10s\"", r->v[2]);
			cfg.nmounts++;
		} else if (strcmp(k, "forward") == 0)
			cfg.forward = 1;
		else if (strcmp(k, "noipv6") == 0)
			cfg.noipv6 = 1;
		else if (strcmp(k, "userns") == 0)
			cfg.userns = 1;
		else if (strcmp(k, "clock") == 0) {
			if (parse_int(r->v[0], -(1LL << 40), 1LL << 40, &cfg.clock) < 0)
				fail("read config: clock offset \"%.30s\"", r->v[0]);
			cfg.has_clock = 1;
		}
	}
	if (cfg.nmounts > 4096)
		fail("read config: more than 4096 mounts");
}

// ---------------------------------------------------------------------------
// Paths.

// clean_path writes the shortest path equivalent to in, by purely lexical
// processing (Go's path.Clean), to out, which holds n bytes. out may be in:
// the algorithm never writes ahead of what it has read.
static int clean_path(char *out, size_t n, const char *in)
{
	size_t len = strlen(in);
	if (len + 2 > n)
		return seterr("path too long: %.64s...", in);
	if (len == 0) {
		strcpy(out, ".");
		return 0;
	}
	int rooted = in[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < len) {
		if (in[r] == '/')
			r++;
		else if (in[r] == '.' && (r + 1 == len || in[r + 1] == '/'))
			r++;
		else if (in[r] == '.' && in[r + 1] == '.' && (r + 2 == len || in[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < len && in[r] != '/'; r++)
				out[w++] = in[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return 0;
}

// at is filepath.Join(root, p): p inside the node's root, cleaned.
static int at(char out[PATH_MAX], const char *root, const char *p)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", root, p);
	if (n < 0 || n >= PATH_MAX - 1)
		return seterr("path too long: %.64s...", p);
	return clean_path(out, PATH_MAX, out);
}

// private reports whether p lies inside the node's private /tmp or /run,
// where a host-view node may create mount targets.
static int private_path(const char *p)
{
	char c[PATH_MAX];
	if (clean_path(c, sizeof c, p) < 0)
		return 0;
	return strncmp(c, "/tmp/", 5) == 0 || strncmp(c, "/run/", 5) == 0;
}

// mkdir_all is os.MkdirAll.
NOINLINE static int mkdir_all(const char *p, mode_t mode)
{
	struct stat st;
	if (stat(p, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		return seterr("mkdir %s: %s", p, errstr(ENOTDIR));
	}
	char b[PATH_MAX];
	if (strlen(p) >= sizeof b)
		return seterr("mkdir %.64s...: %s", p, errstr(ENAMETOOLONG));
	strcpy(b, p);
	for (char *s = b + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(b, mode) < 0 && errno != EEXIST)
			return seterr("mkdir %s: %s", b, errstr(errno));
		*s = '/';
	}
	if (mkdir(b, mode) < 0) {
		int e = errno;
		if (stat(b, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return seterr("mkdir %s: %s", b, errstr(e));
	}
	return 0;
}

// create_file creates p (and its folder) as a mount point for a file.
NOINLINE static int create_file(const char *p)
{
	char d[PATH_MAX];
	if (strlen(p) >= sizeof d)
		return seterr("open %.64s...: %s", p, errstr(ENAMETOOLONG));
	strcpy(d, p);
	char *slash = strrchr(d, '/');
	if (slash != NULL && slash != d) {
		*slash = '\0';
		if (mkdir_all(d, 0755) < 0)
			return -1;
	}
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return seterr("open %s: %s", p, errstr(errno));
	close(fd);
	return 0;
}

// ensure_file makes sure p exists as a mount point for a file, creating it
// (and its folder) when create is set. Without create, a missing p fails
// with errno ENOENT.
static int ensure_file(const char *p, int create)
{
	struct stat st;
	if (stat(p, &st) == 0)
		return 0;
	int e = errno;
	if (!create) {
		seterr("stat %s: %s", p, errstr(e));
		errno = e;
		return -1;
	}
	return create_file(p);
}

// ---------------------------------------------------------------------------
// The node's filesystem.

// attach moves the detached mount fd (see openTree in start_linux.go) onto
// target and makes it private: the clone of a shared host mount would
// otherwise share what is mounted below it with the host.
static int attach(int fd, const char *target)
{
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, TOPO_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return seterr("%s", errstr(errno));
	if (mount(NULL, target, NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return seterr("%s", errstr(errno));
	return 0;
}

// mount_overlay mounts the node's root: the image read-only below, the
// node's own upper layer above. Its layers arrive as detached mounts
// (overlayfs takes layers only from the caller's mount namespace) and are
// attached on a scratch tmpfs, which leaves with the host's root at pivot.
NOINLINE static const char *mount_overlay(void)
{
	int base = TOPO_FD_MOUNTS + (int)cfg.nmounts;
	if (mount("tmpfs", "/tmp", "tmpfs", NODEV, "mode=700") < 0)
		fail("scratch tmpfs: %s", errstr(errno));
	static const char *dirs[] = {"/tmp/lower", "/tmp/fs", "/tmp/root"};
	for (int i = 0; i < 3; i++) {
		if (mkdir(dirs[i], 0755) < 0)
			fail("mkdir %s: %s", dirs[i], errstr(errno));
		if (i < 2) {
			if (attach(base + i, dirs[i]) < 0)
				fail("attach overlay layer: %s", errbuf);
			close(base + i);
		}
	}
	const char *opts = cfg.userns
	    // trusted.* xattrs are out of reach in a user namespace.
	    ? "lowerdir=/tmp/lower,upperdir=/tmp/fs/upper,workdir=/tmp/fs/work,userxattr"
	    : "lowerdir=/tmp/lower,upperdir=/tmp/fs/upper,workdir=/tmp/fs/work";
	if (mount("overlay", "/tmp/root", "overlay", 0, opts) < 0)
		fail("overlay of image %s: %s", cfg.image, errstr(errno));
	return "/tmp/root";
}

// make_dev gives an image node a minimal /dev: the usual character devices
// (bound from the host's, since a user namespace may not create them), its
// own devpts instance, and shared memory.
NOINLINE static void make_dev(const char *root)
{
	char dev[PATH_MAX], p[PATH_MAX];
	if (at(dev, root, "dev") < 0)
		fail("%s", errbuf);
	if (mkdir_all(dev, 0755) < 0)
		fail("%s", errbuf);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755") < 0)
		fail("mount /dev: %s", errstr(errno));
	static const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		char host[32];
		snprintf(host, sizeof host, "/dev/%s", devices[i]);
		if (at(p, dev, devices[i]) < 0)
			fail("%s", errbuf);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0)
			fail("open %s: %s", p, errstr(errno));
		close(fd);
		if (mount(host, p, NULL, MS_BIND, NULL) < 0)
			fail("bind %s: %s", host, errstr(errno));
	}
	static const char *subdirs[] = {"pts", "shm"};
	for (size_t i = 0; i < 2; i++) {
		if (at(p, dev, subdirs[i]) < 0)
			fail("%s", errbuf);
		if (mkdir(p, 0755) < 0)
			fail("mkdir %s: %s", p, errstr(errno));
	}
	if (at(p, dev, "pts") < 0)
		fail("%s", errbuf);
	if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") < 0)
		fail("mount /dev/pts: %s", errstr(errno));
	if (at(p, dev, "shm") < 0)
		fail("%s", errbuf);
	if (mount("tmpfs", p, "tmpfs", NODEV, "mode=1777") < 0)
		fail("mount /dev/shm: %s", errstr(errno));
	static const char *links[][2] = {
	    {"ptmx", "pts/ptmx"},
	    {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},
	    {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		if (at(p, dev, links[i][0]) < 0)
			fail("%s", errbuf);
		if (symlink(links[i][1], p) < 0)
			fail("symlink %s %s: %s", links[i][1], p, errstr(errno));
	}
}

// pivot makes root the node's / and lets go of the host's root.
NOINLINE static void pivot(const char *root)
{
	if (chdir(root) < 0)
		fail("chdir %s: %s", root, errstr(errno));
	// With new and old root the same folder, the old root ends up mounted
	// on top of the new one, where it is detached.
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root: %s", errstr(errno));
	if (umount2(".", MNT_DETACH) < 0)
		fail("detach the host's root: %s", errstr(errno));
	if (chdir("/") < 0)
		fail("chdir /: %s", errstr(errno));
}

// bind_mount binds the inherited descriptor fd onto target. A missing
// target is created in an image node's own root, and in a host-view node
// only inside its private /tmp and /run: anywhere else it would appear on
// the host.
NOINLINE static int bind_mount(int fd, const char *target, const char *dst, int ro)
{
	struct stat st, lst;
	if (fstat(fd, &st) < 0)
		return seterr("fstat: %s", errstr(errno));
	if (lstat(target, &lst) < 0 && errno == ENOENT) {
		if (cfg.image == NULL && !private_path(dst))
			return seterr("target does not exist in the node (topo creates targets only under /tmp and /run, or in an image)");
		if ((S_ISDIR(st.st_mode) ? mkdir_all(target, 0755) : ensure_file(target, 1)) < 0)
			return -1;
	}
	if (attach(fd, target) < 0)
		return -1;
	if (ro && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return seterr("make read-only: %s", errstr(errno));
	return 0;
}

// copy_file writes what fd holds (or, with fd < 0, text) into a new file.
static int copy_file(const char *path, int fd, const char *text)
{
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return seterr("create %s: %s", path, errstr(errno));
	int rc = 0;
	if (fd < 0) {
		if (write_all(out, text, strlen(text)) < 0)
			rc = seterr("write %s: %s", path, errstr(errno));
	} else {
		char buf[16384];
		for (;;) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = seterr("read hosts: %s", errstr(errno));
				break;
			}
			if (n == 0)
				break;
			if (write_all(out, buf, (size_t)n) < 0) {
				rc = seterr("write %s: %s", path, errstr(errno));
				break;
			}
		}
	}
	close(out);
	return rc;
}

// node_files gives the node its own /etc/hosts (a copy of the lab's, read
// from TOPO_FD_HOSTS) and /etc/hostname. They are written in a scratch
// folder of the node's own /tmp (a tmpfs, mounted just before), bound into
// place and unlinked again: the files live on in their binds, leave nothing
// on the host or in /tmp, and cost no mount of their own.
NOINLINE static void node_files(const char *root, int own)
{
	char scratch[PATH_MAX], p[PATH_MAX], src[PATH_MAX];
	if (at(scratch, root, "/tmp/.topo-node-files") < 0)
		fail("%s", errbuf);
	if (mkdir(scratch, 0700) < 0)
		fail("scratch folder: %s", errstr(errno));
	char hostname[256];
	snprintf(hostname, sizeof hostname, "%s\n", node);
	static const struct {
		const char *name, *target;
	} files[] = {{"hosts", "/etc/hosts"}, {"hostname", "/etc/hostname"}};
	for (size_t i = 0; i < 2; i++) {
		int n = snprintf(src, sizeof src, "%s/%s", scratch, files[i].name);
		if (n < 0 || (size_t)n >= sizeof src)
			fail("scratch path too long");
		if (at(p, root, files[i].target) < 0)
			fail("%s", errbuf);
		if (ensure_file(p, own) < 0) {
			if (!own && errno == ENOENT)
				continue; // nothing to cover on this host
			fail("%s", errbuf);
		}
		if (copy_file(src, i == 0 ? TOPO_FD_HOSTS : -1, hostname) < 0)
			fail("%s", errbuf);
		if (mount(src, p, NULL, MS_BIND, NULL) < 0)
			fail("bind %s: %s", files[i].target, errstr(errno));
		if (unlink(src) < 0)
			fail("unlink scratch %s: %s", files[i].name, errstr(errno));
	}
	if (rmdir(scratch) < 0)
		fail("remove scratch folder: %s", errstr(errno));
	close(TOPO_FD_HOSTS);
	close(TOPO_FD_HOSTNAME);
}

// setup_fs gives the node its own view of the filesystem: the host's files
// with private /tmp, /run, /etc/hosts and /etc/hostname, or, with an image,
// an overlay of the image as its root.
NOINLINE static void setup_fs(void)
{
	// Nothing mounted from here on may propagate to the host, where / is
	// a shared mount on systemd machines.
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("make mounts private: %s", errstr(errno));
	const char *root = "/";
	int own = cfg.image != NULL; // the node's root is its own
	if (own)
		root = mount_overlay();
	static const struct {
		const char *fstype, *target, *data;
		unsigned long flags;
	} steps[] = {
	    {"proc", "/proc", NULL, NODEV | MS_NOEXEC},
	    {"sysfs", "/sys", NULL, NODEV | MS_NOEXEC},
	    {"tmpfs", "/tmp", "mode=1777", NODEV},
	    {"tmpfs", "/run", "mode=755", NODEV},
	};
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (at(p, root, steps[i].target) < 0)
			fail("%s", errbuf);
		if (own && mkdir_all(p, 0755) < 0)
			fail("%s", errbuf);
		if (mount(steps[i].fstype, p, steps[i].fstype, steps[i].flags, steps[i].data) < 0)
			fail("mount %s on %s: %s", steps[i].fstype, steps[i].target, errstr(errno));
	}
	if (own)
		make_dev(root);
	node_files(root, own);
	int fd = TOPO_FD_MOUNTS;
	for (size_t i = 0; i < cfg.nrecs; i++) {
		const struct rec *r = &cfg.recs[i];
		if (strcmp(r->key, "mount") != 0)
			continue;
		const char *src = r->v[0], *dst = r->v[1];
		if (at(p, root, dst) < 0 || bind_mount(fd, p, dst, strcmp(r->v[2], "ro") == 0) < 0)
			fail("mount %s on %s: %s", src, dst, errbuf);
		close(fd);
		fd++;
	}
	if (own)
		pivot(root);
}

// ---------------------------------------------------------------------------
// Network and clocks.

NOINLINE static void write_sysctl(const char *key, const char *value)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof p, "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= sizeof p)
		fail("sysctl %.64s...: key too long", key);
	for (char *s = p + strlen("/proc/sys/"); *s; s++)
		if (*s == '.')
			*s = '/';
	int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		fail("sysctl %s=%s: open %s: %s", key, value, p, errstr(errno));
	if (write_all(fd, value, strlen(value)) < 0) {
		int e = errno;
		close(fd);
		fail("sysctl %s=%s: write %s: %s", key, value, p, errstr(e));
	}
	close(fd);
}

// apply_sysctls writes the settings implied by noipv6 and forward, then the
// node's own, in order.
NOINLINE static void apply_sysctls(void)
{
	if (cfg.noipv6) {
		write_sysctl("net.ipv6.conf.all.disable_ipv6", "1");
		write_sysctl("net.ipv6.conf.default.disable_ipv6", "1");
	} else {
		// A lab's addresses are unique by construction: duplicate
		// address detection only delays them (link-local ones too). A
		// node's own sysctl attribute can turn it back on.
		write_sysctl("net.ipv6.conf.all.accept_dad", "0");
		write_sysctl("net.ipv6.conf.default.accept_dad", "0");
	}
	if (cfg.forward) {
		write_sysctl("net.ipv4.ip_forward", "1");
		if (!cfg.noipv6)
			write_sysctl("net.ipv6.conf.all.forwarding", "1");
	}
	for (size_t i = 0; i < cfg.nrecs; i++)
		if (strcmp(cfg.recs[i].key, "sysctl") == 0)
			write_sysctl(cfg.recs[i].v[0], cfg.recs[i].v[1]);
}

NOINLINE static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("loopback up: socket: %s", errstr(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("loopback up: %s", errstr(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("loopback up: %s", errstr(errno));
	close(s);
}

// enter_time_ns moves the node's clocks: unshare puts every child forked
// from now on in a new time namespace, whose offsets must be written before
// any process is in it.
NOINLINE static void enter_time_ns(void)
{
	if (!cfg.has_clock)
		return;
	if (unshare(CLONE_NEWTIME) < 0)
		fail("time namespace: %s", errstr(errno));
	char b[128];
	int n = snprintf(b, sizeof b, "monotonic %lld 0\nboottime %lld 0\n", cfg.clock, cfg.clock);
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("clock offsets: %s", errstr(errno));
	if (write_all(fd, b, (size_t)n) < 0)
		fail("clock offsets: %s", errstr(errno));
	close(fd);
}

// ---------------------------------------------------------------------------
// Commands.

// build_env makes a command's environment: the caller's (the "env" records
// of req), then the node's env attribute, then the command's own settings
// ("extra" records of req), a later KEY replacing an earlier one in place,
// and PATH when none of them set it. req may be NULL. The strings are not
// copied; the array is freed by the caller.
static const char **build_env(const struct rec *req, size_t nreq)
{
	size_t total = 1;
	for (size_t i = 0; i < nreq; i++)
		total += strcmp(req[i].key, "env") == 0 || strcmp(req[i].key, "extra") == 0;
	for (size_t i = 0; i < cfg.nrecs; i++)
		total += strcmp(cfg.recs[i].key, "env") == 0;
	size_t size = 16;
	while (size < 2 * total)
		size *= 2;
	const char **env = calloc(total + 1, sizeof *env);
	size_t *table = calloc(size, sizeof *table); // index+1 into env; 0 is free
	if (env == NULL || table == NULL) {
		free(env);
		free(table);
		return NULL;
	}
	size_t n = 0;
	int have_path = 0;
	for (int src = 0; src < 3; src++) {
		const struct rec *recs = src == 1 ? cfg.recs : req;
		size_t nrecs = src == 1 ? cfg.nrecs : nreq;
		const char *want = src == 2 ? "extra" : "env";
		for (size_t i = 0; i < nrecs; i++) {
			if (strcmp(recs[i].key, want) != 0)
				continue;
			const char *kv = recs[i].v[0];
			size_t klen = strcspn(kv, "=");
			if (klen == 4 && memcmp(kv, "PATH", 4) == 0)
				have_path = 1;
			uint64_t h = 1469598103934665603ULL; // FNV-1a
			for (size_t j = 0; j < klen; j++)
				h = (h ^ (unsigned char)kv[j]) * 1099511628211ULL;
			size_t slot = (size_t)h & (size - 1);
			for (;;) {
				if (table[slot] == 0) {
					table[slot] = n + 1;
					env[n++] = kv;
					break;
				}
				const char *old = env[table[slot] - 1];
				if (strcspn(old, "=") == klen && memcmp(old, kv, klen) == 0) {
					env[table[slot] - 1] = kv;
					break;
				}
				slot = (slot + 1) & (size - 1);
			}
		}
	}
	if (!have_path)
		env[n++] = "PATH=" DEFAULT_PATH;
	env[n] = NULL;
	free(table);
	return env;
}

// look_path finds file as a shell would, in the PATH of env; a name with a
// slash is taken as it is. The result is file itself or buf.
static const char *look_path(const char *file, const char *const *env, char *buf, size_t bufsz)
{
	if (strchr(file, '/') != NULL)
		return file;
	const char *path = DEFAULT_PATH;
	for (; *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			path = *env + 5;
	if (*path == '\0')
		return NULL;
	for (const char *d = path;;) {
		size_t dlen = strcspn(d, ":");
		int n = dlen == 0 ? snprintf(buf, bufsz, "./%s", file)
		                  : snprintf(buf, bufsz, "%.*s/%s", (int)(dlen < PATH_MAX ? dlen : PATH_MAX), d, file);
		struct stat st;
		if (n > 0 && (size_t)n + 1 < bufsz && dlen < PATH_MAX && clean_path(buf, bufsz, buf) == 0 &&
		    stat(buf, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0)
			return buf;
		if (d[dlen] == '\0')
			return NULL;
		d += dlen + 1;
	}
}

struct spawn {
	const char *path;
	const char *const *argv, *const *env;
	const char *dir;
	int stdio[3];
	int tty; // stdio[0] is a terminal to make the controlling one
};

// child_fail reports errno to the parent on ep and ends the child.
__attribute__((noreturn)) static void child_fail(int ep)
{
	int e = errno;
	(void)!write(ep, &e, sizeof e);
	_exit(127);
}

// spawn forks a command: a process group of its own, or, with tty, a
// session with its terminal. It returns the child's PID, or -1 with errno
// set when the command could not be started (exec failures included: the
// child reports them on a close-on-exec pipe).
static pid_t spawn(const struct spawn *s)
{
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ep[0]);
		close(ep[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		// The child: only system calls from here on.
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (s->tty ? setsid() < 0 : setpgid(0, 0) < 0)
			child_fail(ep[1]);
		int fds[3];
		for (int i = 0; i < 3; i++) {
			fds[i] = s->stdio[i];
			if (fds[i] < 3 && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
				child_fail(ep[1]);
		}
		for (int i = 0; i < 3; i++)
			if (dup2(fds[i], i) < 0)
				child_fail(ep[1]);
		if (s->tty && ioctl(0, TIOCSCTTY, 0) < 0)
			child_fail(ep[1]);
		if (chdir(s->dir) < 0)
			child_fail(ep[1]);
		// Nothing of the init's but stdio may reach the command (all
		// its descriptors are close-on-exec already: belt and braces).
		syscall(SYS_close_range, 3U, ~0U, TOPO_CLOSE_RANGE_CLOEXEC);
		execve(s->path, (char *const *)s->argv, (char *const *)s->env);
		child_fail(ep[1]);
	}
	close(ep[1]);
	if (!s->tty)
		setpgid(pid, pid); // the child may have exec'd already: then it did
	int e = 0;
	ssize_t r;
	do
		r = read(ep[0], &e, sizeof e);
	while (r < 0 && errno == EINTR);
	close(ep[0]);
	if (r == 0)
		return pid;
	if (r != (ssize_t)sizeof e)
		e = EIO;
	// It never ran: collect it now, so that no waiter expects it.
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = e;
	return -1;
}

static int devnull(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// ---------------------------------------------------------------------------
// The server.

// conn is a client connection: waiting for its request (pid 0), or for its
// command to end.
struct conn {
	struct conn *prev, *next;
	int fd;
	pid_t pid;
	int refused; // from a process of the node: its request gets an error
};

// script runs the lines of an exec request one after another.
struct script {
	struct script *prev, *next;
	char *text; // the lines, NUL-terminated one after another
	const char **lines;
	size_t n, i;
	pid_t pid; // the line running, or 0
};

static struct conn *conns;
static struct script *scripts;
static int epfd = -1, sigfd = -1, spare = -1, listener = -1;
static const char **script_env; // every exec line's environment
static char tag_listener, tag_signal;

// The events of the current epoll_wait, so that a connection freed while
// they are handled is not used after.
static struct epoll_event events[64];
static int nevents;

static void conn_free(struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (int i = 0; i < nevents; i++)
		if (events[i].data.ptr == c)
			events[i].data.ptr = NULL;
	free(c);
}

// send_msg sends one message, with fd (when not negative) passed along. A
// client that went away or does not read is not waited for.
static void send_msg(int sock, const char *b, size_t n, int fd)
{
	struct iovec iov = {(void *)b, n};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.b;
		m.msg_controllen = sizeof u.b;
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
	}
	while (sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

// reply sends records; keys and values alternate in kv, which ends with a
// NULL key. Values longer than MAX_REPLY_TEXT are cut.
static void reply(int sock, int fd, const char *const *kv)
{
	char b[MAX_REPLY_TEXT + 64];
	size_t n = 0;
	for (; kv[0] != NULL; kv += 2) {
		for (int j = 0; j < 2; j++) {
			size_t l = strnlen(kv[j], MAX_REPLY_TEXT);
			if (n + l + 1 > sizeof b)
				return;
			memcpy(b + n, kv[j], l);
			n += l;
			b[n++] = '\0';
		}
	}
	send_msg(sock, b, n, fd);
}

static void reply_error(int sock, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_error(int sock, int code, const char *fmt, ...)
{
	char text[MAX_REPLY_TEXT + 1], num[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(num, sizeof num, "%d", code);
	const char *kv[] = {"error", text, "exit", num, NULL};
	reply(sock, -1, kv);
}

static void reply_num(int sock, int fd, const char *key, long v)
{
	char num[24];
	snprintf(num, sizeof num, "%ld", v);
	const char *kv[] = {key, num, NULL};
	reply(sock, fd, kv);
}

static int exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

// script_next starts the script's next line, logging what it runs; at the
// end of the lines it frees the script.
static void script_next(struct script *s)
{
	while (s->i < s->n) {
		const char *line = s->lines[s->i++];
		logmsg("topo: exec: ", line, "\n");
		int null = devnull();
		if (null < 0) {
			logmsg("topo: exec failed: open /dev/null: ", errstr(errno), "\n");
			continue;
		}
		const char *argv[] = {"/bin/sh", "-c", line, NULL};
		struct spawn sp = {"/bin/sh", argv, script_env, "/", {null, STDOUT_FILENO, STDERR_FILENO}, 0};
		pid_t pid = spawn(&sp);
		int e = errno;
		close(null);
		if (pid > 0) {
			s->pid = pid;
			return;
		}
		logmsg("topo: exec failed: /bin/sh: ", errstr(e), "\n");
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		scripts = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->lines);
	free(s->text);
	free(s);
}

// start_script copies the "line" records of a request into a script and
// starts its first line.
static int start_script(const struct rec *recs, size_t n)
{
	size_t lines = 0, bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].key, "line") == 0) {
			lines++;
			bytes += strlen(recs[i].v[0]) + 1;
		}
	if (lines == 0)
		return 0;
	struct script *s = calloc(1, sizeof *s);
	char *text = malloc(bytes);
	const char **ptrs = calloc(lines, sizeof *ptrs);
	if (s == NULL || text == NULL || ptrs == NULL) {
		free(s);
		free(text);
		free(ptrs);
		return -1;
	}
	char *w = text;
	for (size_t i = 0, j = 0; i < n; i++)
		if (strcmp(recs[i].key, "line") == 0) {
			size_t l = strlen(recs[i].v[0]) + 1;
			memcpy(w, recs[i].v[0], l);
			ptrs[j++] = w;
			w += l;
		}
	s->text = text;
	s->lines = ptrs;
	s->n = lines;
	s->next = scripts;
	if (scripts)
		scripts->prev = s;
	scripts = s;
	script_next(s);
	return 0;
}

static const struct keydef request_keys[] = {
	{"run", 0}, {"script", 0}, {"argv", 1}, {"env", 1}, {"extra", 1}, {"dir", 1}, {"tty", 2}, // rows, cols
	{"line", 1}, {NULL, 0},
};

// open_pty opens a pseudo-terminal pair in the node's /dev/pts.
static int open_pty(unsigned short rows, unsigned short cols, int *master, int *slave)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return seterr("open /dev/ptmx: %s", errstr(errno));
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
		seterr("unlock: %s", errstr(errno));
		close(m);
		return -1;
	}
	if (rows > 0 && cols > 0) {
		struct winsize ws = {.ws_row = rows, .ws_col = cols};
		(void)ioctl(m, TIOCSWINSZ, &ws);
	}
	// TIOCGPTPEER opens the slave through the master itself, whatever
	// devpts the node's /dev/pts is.
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		seterr("open slave: %s", errstr(errno));
		close(m);
		return -1;
	}
	*master = m;
	*slave = s;
	return 0;
}

// handle_request serves the one request of connection c: recs parsed from
// its message, fds the descriptors that came with it (closed by the
// caller). It returns 1 when c now waits for its command, 0 when it is done
// with (replied to, to be closed).
static int handle_request(struct conn *c, const struct rec *recs, size_t n, const int *fds, int nfds)
{
	if (n == 0 || (strcmp(recs[0].key, "run") != 0 && strcmp(recs[0].key, "script") != 0)) {
		reply_error(c->fd, 2, "bad request: no run or script record first");
		return 0;
	}
	if (strcmp(recs[0].key, "script") == 0) {
		if (start_script(recs, n) < 0)
			reply_error(c->fd, 1, "start exec lines: out of memory");
		else
			reply_num(c->fd, -1, "pid", 1);
		return 0;
	}
	size_t argc = 0;
	const char *dir = NULL, *tty = NULL, *ttycols = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(recs[i].key, "argv") == 0)
			argc++;
		else if (strcmp(recs[i].key, "dir") == 0)
			dir = recs[i].v[0];
		else if (strcmp(recs[i].key, "tty") == 0) {
			tty = recs[i].v[0];
			ttycols = recs[i].v[1];
		}
	}
	long long rows = 0, cols = 0;
	if (tty != NULL && (parse_int(tty, 0, 65535, &rows) < 0 || parse_int(ttycols, 0, 65535, &cols) < 0)) {
		reply_error(c->fd, 2, "bad request: terminal size");
		return 0;
	}
	if (argc == 0 || (nfds != 3 && tty == NULL)) {
		reply_error(c->fd, 2, "bad request: no command or no stdio");
		return 0;
	}
	const char **argv = calloc(argc + 1, sizeof *argv);
	const char **env = build_env(recs, n);
	if (argv == NULL || env == NULL) {
		free(argv);
		free(env);
		reply_error(c->fd, 1, "node init: out of memory");
		return 0;
	}
	for (size_t i = 0, j = 0; i < n; i++)
		if (strcmp(recs[i].key, "argv") == 0)
			argv[j++] = recs[i].v[0];
	int waiting = 0, master = -1, slave = -1;
	char found[PATH_MAX];
	const char *path = look_path(argv[0], env, found, sizeof found);
	struct stat st;
	if (path == NULL) {
		reply_error(c->fd, 127, "%.200s: command not found", argv[0]);
		goto out;
	}
	if (dir == NULL || *dir == '\0' || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		dir = "/";
	struct spawn sp = {path, argv, env, dir, {-1, -1, -1}, tty != NULL};
	if (tty != NULL) {
		if (open_pty((unsigned short)rows, (unsigned short)cols, &master, &slave) < 0) {
			reply_error(c->fd, 1, "pseudo-terminal: %s", errbuf);
			goto out;
		}
		sp.stdio[0] = sp.stdio[1] = sp.stdio[2] = slave;
	} else
		memcpy(sp.stdio, fds, sizeof sp.stdio);
	pid_t pid = spawn(&sp);
	if (pid < 0) {
		reply_error(c->fd, 126, "%.200s: %s", argv[0], errstr(errno));
		goto out;
	}
	// The child holds its own copies of the descriptors now; for a
	// terminal, the client gets the master.
	c->pid = pid;
	waiting = 1;
	reply_num(c->fd, master, "pid", pid);
out:
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	free(argv);
	free(env);
	return waiting;
}

// recv_msg receives one message of at most max bytes into b, with the
// descriptors passed along it (at most MAX_FDS, close-on-exec). It returns
// the message's length, 0 at end of connection, -1 with errno set (EAGAIN:
// nothing waits), or -2 for a message that was cut or came with more than
// MAX_FDS descriptors (all of them closed).
static ssize_t recv_msg(int sock, char *b, size_t max, int *fds, int *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = {b, max};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	*nfds = 0;
	int extra = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
			if (*nfds < MAX_FDS)
				fds[(*nfds)++] = fd;
			else {
				close(fd);
				extra = 1;
			}
		}
	}
	if (extra || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -2;
	}
	return n;
}

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

// read_request reads and serves the request of connection c.
static void read_request(struct conn *c)
{
	char peek;
	ssize_t size;
	do
		size = recv(c->fd, &peek, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (size < 0 && errno == EINTR);
	if (size < 0 && errno == EAGAIN)
		return;
	if (size <= 0) {
		conn_free(c);
		return;
	}
	int fds[MAX_FDS], nfds;
	if (size > TOPO_MAX_MSG) {
		// Take it off the socket, then refuse it.
		ssize_t r = recv_msg(c->fd, &peek, 1, fds, &nfds);
		if (r >= 0)
			close_fds(fds, nfds);
		reply_error(c->fd, 2, "bad request: longer than %d bytes", TOPO_MAX_MSG);
		conn_free(c);
		return;
	}
	char *b = malloc((size_t)size);
	if (b == NULL) {
		reply_error(c->fd, 1, "node init: out of memory");
		conn_free(c);
		return;
	}
	ssize_t n = recv_msg(c->fd, b, (size_t)size, fds, &nfds);
	if (n == -1) {
		free(b);
		if (errno != EAGAIN)
			conn_free(c); // the client went away
		return;
	}
	int waiting = 0;
	struct rec *recs = NULL;
	size_t nrecs = 0;
	if (c->refused && n > 0)
		reply_error(c->fd, 1, "node init: commands come from the host (topo exec), not from the node");
	else if (n == -2 || (n > 0 && nfds > 0 && nfds != 3))
		reply_error(c->fd, 2, "bad request: wrong number of descriptors");
	else if (n == 0) {
		// The client went away.
	} else if (parse_records(b, (size_t)n, request_keys, &recs, &nrecs) < 0)
		reply_error(c->fd, 2, "bad request: %s", errbuf);
	else
		waiting = handle_request(c, recs, nrecs, fds, nfds);
	if (n > 0)
		close_fds(fds, nfds);
	free(recs);
	free(b);
	if (!waiting)
		conn_free(c);
}

static const struct keydef signal_keys[] = {{"signal", 1}, {NULL, 0}};

// read_signal reads one message of a client whose command runs: a signal
// to pass on to the command's process group. Anything else is ignored. A
// client that goes away takes its command with it, as a closed ssh session
// would.
static void read_signal(struct conn *c, uint32_t ev)
{
	char b[256];
	int fds[MAX_FDS], nfds;
	ssize_t n = recv_msg(c->fd, b, sizeof b, fds, &nfds);
	if (n > 0) {
		close_fds(fds, nfds);
		struct rec *recs;
		size_t nrecs;
		if (parse_records(b, (size_t)n, signal_keys, &recs, &nrecs) == 0) {
			for (size_t i = 0; i < nrecs; i++) {
				long long sig;
				if (parse_int(recs[i].v[0], 1, _NSIG - 1, &sig) == 0)
					kill(-c->pid, (int)sig);
			}
		}
		free(recs);
		return;
	}
	if (n == -2 || (n == -1 && errno == EAGAIN && !(ev & (EPOLLHUP | EPOLLERR))))
		return;
	// The command is not reaped yet, so its process group still exists.
	kill(-c->pid, SIGKILL);
	conn_free(c);
}

// listen_abstract opens the socket commands come in on: TOPO_SOCK_NAME in
// the abstract namespace of the node's network namespace.
static int listen_abstract(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fail("listen: %s", errstr(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path + 1, TOPO_SOCK_NAME, sizeof TOPO_SOCK_NAME - 1);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof TOPO_SOCK_NAME - 1);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 4096) < 0)
		fail("listen: %s", errstr(errno));
	return fd;
}

// from_host says whether the peer of a connection runs outside the node:
// its PID, seen from the node's PID namespace, is then 0. Only the host
// can enter the node's network namespace to connect; the node's own
// processes can connect, and must not be served (a userns node's unprivileged
// users would otherwise run commands as its root).
static int from_host(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 && uc.pid == 0;
}

static void accept_conns(int ln)
{
	for (;;) {
		int fd = accept4(ln, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && spare >= 0) {
				// Out of descriptors: refuse the client rather than
				// spin on a listener that stays readable.
				close(spare);
				fd = accept4(ln, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (fd >= 0) {
					reply_error(fd, 1, "node init: out of descriptors");
					close(fd);
				}
				spare = devnull();
			}
			return;
		}
		struct conn *c = calloc(1, sizeof *c);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		if (c == NULL || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			reply_error(fd, 1, "node init: out of memory");
			close(fd);
			free(c);
			continue;
		}
		c->fd = fd;
		c->refused = !from_host(fd); // answered when its request comes
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
	}
}

// reap collects every child that ended: a command's status goes to its
// client, an exec line's to the log (and the next line starts); orphans
// the node inherited are simply collected.
static void reap(void)
{
	struct signalfd_siginfo si;
	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		; // SIGCHLD, SIGINT, SIGHUP: only SIGCHLD means anything
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		int code = exit_code(status);
		for (struct conn *c = conns; c != NULL; c = c->next)
			if (c->pid == pid) {
				reply_num(c->fd, -1, "exit", code);
				conn_free(c);
				break;
			}
		for (struct script *s = scripts; s != NULL; s = s->next)
			if (s->pid == pid) {
				s->pid = 0;
				if (code != 0) {
					char msg[64];
					snprintf(msg, sizeof msg, "topo: exec exited with status %d: ", code);
					logmsg(msg, s->lines[s->i - 1], "\n");
				}
				script_next(s);
				break;
			}
	}
}

__attribute__((noreturn)) static void serve(void)
{
	for (;;) {
		nevents = 0;
		int n = epoll_wait(epfd, events, (int)(sizeof events / sizeof events[0]), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("topo init: epoll_wait: ", errstr(errno), "\n");
			_exit(1);
		}
		nevents = n;
		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;
			if (p == NULL)
				continue; // freed by an earlier event of this round
			if (p == &tag_listener)
				accept_conns(listener);
			else if (p == &tag_signal)
				reap();
			else {
				struct conn *c = p;
				if (c->pid == 0)
					read_request(c);
				else
					read_signal(c, events[i].events);
			}
		}
	}
}

// ---------------------------------------------------------------------------
// The init.

__attribute__((noreturn)) static void init_main(const char *name)
{
	node = name;
	// SIGCHLD, SIGINT and SIGHUP are read from a signalfd. Blocked, not
	// ignored: an ignored signal stays ignored in every command the init
	// starts, and Ctrl-C in a node's shell must work. SIGPIPE is blocked
	// so that a write to a client that went away fails with EPIPE.
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		fail("block signals: %s", errstr(errno));
	sigdelset(&mask, SIGPIPE);
	// Every command starts with default dispositions, whatever topo was
	// started with (nohup ignores SIGHUP; an ignored SIGCHLD would even
	// reap children behind the init's back). The init has no handlers, so
	// this is the whole of what exec would not reset.
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); // glibc's reserved ones fail: fine
	// Stdio must be open, or a descriptor opened later would take its
	// place and receive the log.
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int null = open("/dev/null", O_RDWR);
			if (null != fd)
				_exit(1);
		}
	// Nothing inherited may leak into the node's commands.
	for (int fd = TOPO_FD_READY; fd <= TOPO_FD_HOSTNAME; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fail("descriptor %d: %s", fd, errstr(errno));
	read_config();
	for (int fd = TOPO_FD_MOUNTS; fd < TOPO_FD_MOUNTS + (int)cfg.nmounts + (cfg.image ? 2 : 0); fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fail("descriptor %d: %s", fd, errstr(errno));
	if (cfg.userns)
		log_ready = 1; // its stdout is the log already

	setup_fs();
	if (sethostname(node, strlen(node)) < 0)
		fail("sethostname: %s", errstr(errno));
	apply_sysctls();
	loopback_up();
	enter_time_ns();

	script_env = build_env(NULL, 0);
	if (script_env == NULL)
		fail("environment: out of memory");
	spare = devnull();
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0)
		fail("signalfd: %s", errstr(errno));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		fail("epoll: %s", errstr(errno));
	listener = listen_abstract();
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listener};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev) < 0)
		fail("epoll: %s", errstr(errno));
	ev.data.ptr = &tag_signal;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0)
		fail("epoll: %s", errstr(errno));

	if (write_all(TOPO_FD_READY, "ok", 2) < 0)
		_exit(1);
	close(TOPO_FD_READY);
	serve();
}

// started_by_lab says whether this process was started by
// LabInit.StartNode: in the lab's PID namespace, with its config in a memfd
// (a command line typed by hand has none).
static int started_by_lab(void)
{
	return fcntl(TOPO_FD_CONFIG, F_GET_SEALS) >= 0;
}

// become_pid1 makes the node's PID namespace, in the lab's, and goes on in
// a child, its PID 1; this process exits, and the lab init adopts the
// child. The clone that started this process could not make it: the
// kernel refuses a new PID namespace to a thread that entered another.
static void become_pid1(const char *name)
{
	node = name;
	if (unshare(CLONE_NEWPID) < 0)
		fail("new PID namespace: %s", errstr(errno));
	pid_t c = fork();
	if (c < 0)
		fail("fork the init: %s", errstr(errno));
	if (c > 0)
		_exit(0);
}

// end_lab ends the lab's nodes one after another, each once the one before
// has exited (or a second has passed). Ending them all at once would make as
// many exiting processes compete for the CPUs, and keep the machine, and
// whatever runs next, busy until the last had exited. The nodes' inits are
// the lab init's children (become_pid1); ending one ends its node.
static void end_lab(void)
{
	// /proc is the host's: it names the children by their host PIDs,
	// which a descriptor of their /proc folder turns into something to
	// signal (pidfd_send_signal takes those too).
	static char list[1 << 20];
	int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, list + n, sizeof list - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (n += (size_t)r) == sizeof list - 1)
			break;
	}
	close(fd);
	list[n] = '\0';
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (char *p = list, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		char path[32];
		snprintf(path, sizeof path, "/proc/%ld", pid);
		int pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0)
			continue;
		int sent = syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0;
		close(pfd);
		if (!sent)
			continue;
		// Wait for a child to exit: this one, most likely.
		for (;;) {
			pid_t w = waitpid(-1, NULL, WNOHANG);
			if (w > 0 || (w < 0 && errno == ECHILD))
				break;
			struct timespec second = {1, 0};
			siginfo_t si;
			if (sigtimedwait(&chld, &si, &second) < 0 && errno != EINTR)
				break;
		}
	}
}

// lab_main is the init of a lab: PID 1 of the lab's own PID namespace, in
// which the PID namespace of every node of the lab is made. It holds
// nothing else (it shares the host's other namespaces) and reaps what is
// left to it. Killing it ends every process of the lab at once: the kernel
// ends all the processes of a PID namespace, and of the namespaces made in
// it, when its PID 1 exits. SIGTERM ends the lab gently: end_lab, then the
// lab init itself.
__attribute__((noreturn)) static void lab_main(void)
{
	sigset_t all, want;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	sigemptyset(&want);
	sigaddset(&want, SIGCHLD);
	sigaddset(&want, SIGTERM);
	if (write_all(TOPO_FD_READY, "ok", 2) < 0)
		_exit(1);
	close(TOPO_FD_READY);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&want, &si);
		if (sig < 0 && errno != EINTR)
			_exit(1);
		if (sig == SIGTERM) {
			end_lab();
			_exit(0);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

#if !defined(__GLIBC__) || defined(TOPO_INIT_PROC_CMDLINE)
// args reads the command line from /proc (only glibc passes it to
// constructors). It returns argc, with argv pointing into a static buffer.
static int args(char **argv, int max)
{
	static char b[2 * PATH_MAX + 64];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, sizeof b - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof b - 1)
			break;
	}
	close(fd);
	b[n] = '\0';
	int argc = 0;
	for (size_t i = 0; i < n && argc < max; i += strlen(b + i) + 1)
		argv[argc++] = b + i;
	return argc;
}
#endif

// topo_node_init takes over when this process is a node's init, started by
// Start as "topo __init DIR NODE" as PID 1 of a new PID namespace (or by
// LabInit.StartNode, to make that namespace), or a lab's, started by
// StartLab as "topo __init DIR". Any other process goes on into the Go
// runtime (where MaybeRunInit refuses an init command line).
#if defined(__GLIBC__) && !defined(TOPO_INIT_PROC_CMDLINE)
__attribute__((constructor)) static void topo_node_init(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 3 || argc > 4 || argv == NULL || strcmp(argv[1], INIT_ARG) != 0)
		return;
	if (getpid() != 1) {
		if (argc != 4 || !started_by_lab())
			return;
		become_pid1(argv[3]);
	}
	if (argc == 3)
		lab_main();
	init_main(argv[3]);
}
#else
__attribute__((constructor)) static void topo_node_init(void)
{
	if (getpid() != 1 && !started_by_lab())
		return;
	char *argv[5];
	int argc = args(argv, 5);
	if (argc < 3 || argc > 4 || strcmp(argv[1], INIT_ARG) != 0)
		return;
	if (getpid() != 1) {
		if (argc != 4)
			return;
		become_pid1(argv[3]);
	}
	if (argc == 3)
		lab_main();
	init_main(argv[3]);
}
#endif
