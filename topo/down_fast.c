//go:build linux && cgo

// The fast path of "topo down [LAB]".
//
// A Go program pays its runtime's start and every imported package's
// initialisation (about 2 ms here) before main: longer than ip netns del
// takes for a dozen namespaces. When the command line is the plain form
// (no flags; a lab named, or exactly one running) and the lab came all the
// way up (it has a labinit file: see state.go), this constructor does what
// Down does for such a lab, before the Go runtime starts: it takes the
// lab's lock, checks that the lab init is still the process the file
// names, asks it to end the lab (node.EndLab: SIGTERM), removes the state
// folder and says so, as the Go command would. Anything else, and any
// failure before the lab init is asked (a lab being brought up or down,
// one with link schedules to stop, a lab init that is gone), returns to
// Go, which handles it. TestDownFastPath runs both.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

// lab_name says whether s is a lab name (validName in validate.go), and
// not a flag.
static int lab_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOPO_MAX_NAME || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

// only_lab finds the one lab under root (Labs in state.go: every folder);
// 0 when there are none or several.
static int only_lab(const char *root, char *out, size_t n)
{
	DIR *d = opendir(root);
	if (d == NULL)
		return 0;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int dir = e->d_type == DT_DIR;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (!dir)
			continue;
		if (++found > 1 || strlen(e->d_name) >= n)
			break;
		strcpy(out, e->d_name);
	}
	closedir(d);
	return found == 1 && lab_name(out);
}

// start_time reads a process's start time from /proc/PID/stat (StartTime
// in proc_linux.go); 0 when it cannot.
static unsigned long long start_time(int pid)
{
	char path[32], b[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	char *p = strrchr(b, ')');
	if (p == NULL)
		return 0;
	// Fields start after the command name: state is field 3, starttime 22.
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (p == NULL)
			return 0;
	}
	return strtoull(p + 1, NULL, 10);
}

// read_labinit reads "PID START" from the lab's labinit file.
static int read_labinit(int dfd, int *pid, unsigned long long *start)
{
	int fd = openat(dfd, TOPO_LABINIT_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	char b[64];
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	return sscanf(b, "%d %llu", pid, start) == 2 && *pid > 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

// since formats the time since t0 as Go prints a time.Duration rounded to
// the millisecond ("0s", "4ms", "1.25s").
static void since(const struct timespec *t0, char *out, size_t n)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	long long ms = ((long long)(t.tv_sec - t0->tv_sec) * 1000000000LL + (t.tv_nsec - t0->tv_nsec) + 500000) / 1000000;
	if (ms <= 0) {
		snprintf(out, n, "0s");
	} else if (ms < 1000) {
		snprintf(out, n, "%lldms", ms);
	} else {
		char frac[8];
		snprintf(frac, sizeof frac, ".%03lld", ms % 1000);
		for (size_t i = strlen(frac); i > 0 && (frac[i - 1] == '0' || frac[i - 1] == '.'); i--)
			frac[i - 1] = '\0';
		if (ms >= 60000)
			snprintf(out, n, "%lldm%lld%ss", ms / 60000, ms / 1000 % 60, frac);
		else
			snprintf(out, n, "%lld%ss", ms / 1000, frac);
	}
}

__attribute__((constructor)) static void topo_down_fast(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || argc > 3 || argv == NULL || strcmp(argv[1], "down") != 0 ||
	    getenv("TOPO_DOWN_SLOW") != NULL)
		return;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *root = getenv("TOPO_STATE_DIR");
	if (root == NULL || root[0] == '\0')
		root = TOPO_DEFAULT_STATE_DIR;
	if (root[0] != '/')
		return;
	char lab[TOPO_MAX_NAME + 1];
	if (argc == 3) {
		if (!lab_name(argv[2]))
			return;
		strcpy(lab, argv[2]);
	} else if (!only_lab(root, lab, sizeof lab)) {
		return;
	}
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s/%s", root, lab) >= (int)sizeof dir)
		return;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return;
	int lock = openat(dfd, TOPO_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int pid, pidfd = -1;
	unsigned long long start;
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0 ||
	    faccessat(dfd, TOPO_SCHED_DIR, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    !read_labinit(dfd, &pid, &start) ||
	    (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0 ||
	    start_time(pid) != start ||
	    syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0) {
		if (pidfd >= 0)
			close(pidfd);
		if (lock >= 0)
			close(lock);
		close(dfd);
		return;
	}
	close(pidfd);
	close(dfd);
	// The lab is ending: finish here. The lock goes with the folder,
	// and is held until exit.
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0) {
		dprintf(2, "topo: lab %s: remove state: %s\n", lab, strerror(errno));
		_exit(1);
	}
	char took[32];
	since(&t0, took, sizeof took);
	dprintf(1, "lab %s down in %s\n", lab, took);
	_exit(0);
}
