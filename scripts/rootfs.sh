#!/bin/sh
# Builds a small root filesystem for image nodes from Debian's busybox-static:
# one static binary, a link per applet, and the few files a shell expects.
# Usage: rootfs.sh DIR   (installs busybox-static with apt-get if missing)
set -eu
out=${1:?usage: rootfs.sh DIR}
if ! dpkg -s busybox-static >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null
fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cd "$out.tmp"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp run proc sys dev var/log
cp /bin/busybox bin/busybox
for applet in $(bin/busybox --list-full); do
	[ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$applet"
done
cat > etc/os-release <<'OS'
NAME="topo BusyBox"
ID=topo-busybox
PRETTY_NAME="topo BusyBox image"
OS
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
printf 'export PS1="\\u@\\h:\\w# "\n' > etc/profile
touch etc/hosts etc/hostname
chmod 1777 tmp
cd - >/dev/null
rm -rf "$out"
mv "$out.tmp" "$out"
echo "rootfs: $out ($(du -sh "$out" | cut -f1))"
