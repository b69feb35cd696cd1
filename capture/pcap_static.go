//go:build cgo && !pcapdynamic

package capture

// libpcap is linked statically so that bin/topo needs nothing at run time beyond the C library:
// no libpcap0.8 on the machines that run labs. Debian's libpcap.a is built with D-Bus capture
// support, so libdbus-1.a comes along; libdbus in turn refers to two libsystemd calls on a path
// that only a D-Bus server takes (socket activation) and Debian ships no libsystemd.a, so weak
// stand-ins with the documented "no sockets passed" answer satisfy the linker. A real libsystemd
// linked into the same program takes precedence over them. Build with -tags pcapdynamic to link
// the shared libpcap instead (distributions without libpcap.a).

/*
#cgo LDFLAGS: -l:libpcap.a -l:libdbus-1.a -lpthread

__attribute__((weak)) int sd_listen_fds(int unset_environment) { (void)unset_environment; return 0; }
__attribute__((weak)) int sd_is_socket(int fd, int family, int type, int listening) {
	(void)fd; (void)family; (void)type; (void)listening;
	return 0;
}
*/
import "C"
