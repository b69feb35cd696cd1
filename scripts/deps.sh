#!/bin/sh
# Installs, with apt-get, the Debian packages that topo's tests and demos use,
# and only those that are missing. Run as root.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1; }
have ping     || need="$need iputils-ping"
have ip       || need="$need iproute2"
have ps       || need="$need procps"
have nsenter  || need="$need util-linux"
have tshark   || need="$need tshark"
have tcpdump  || need="$need tcpdump"
have iperf3   || need="$need iperf3"
have dot      || need="$need graphviz"
have vtysh    || need="$need frr"
[ -e /usr/include/pcap/pcap.h ] || need="$need libpcap-dev"
[ -e /bin/busybox ]  || need="$need busybox-static"
# Benchmark baselines (make bench): Mininet with Linux-bridge switches.
if [ "${TOPO_DEPS_BENCH:-}" = 1 ]; then
	/usr/bin/python3 -c 'import mininet.net' 2>/dev/null || need="$need mininet"
	have brctl || need="$need bridge-utils"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$need; run as root (sudo) to install them" >&2
	exit 1
fi
echo "deps: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# tshark asks whether non-root users may capture: the default (no) is fine.
apt-get install -y -qq --no-install-recommends $need >/dev/null
