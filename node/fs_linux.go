package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const nodev = unix.MS_NOSUID | unix.MS_NODEV

// setupFS gives the node its own view of the filesystem: the host's files
// with private /tmp, /run, /etc/hosts and /etc/hostname, or, with an image,
// an overlay of the image as its root. Runs in the init, in the node's
// mount namespace.
func setupFS(cfg *Config) error {
	// Nothing mounted from here on may propagate to the host, where / is
	// a shared mount on systemd machines.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := "/"
	if cfg.Image != "" {
		var err error
		if root, err = mountOverlay(cfg); err != nil {
			return err
		}
	}
	at := func(p string) string { return filepath.Join(root, p) }
	steps := []struct {
		fstype, target, data string
		flags                uintptr
	}{
		{"proc", "/proc", "", nodev | unix.MS_NOEXEC},
		{"sysfs", "/sys", "", nodev | unix.MS_NOEXEC},
		{"tmpfs", "/tmp", "mode=1777", nodev},
		{"tmpfs", "/run", "mode=755", nodev},
	}
	for _, s := range steps {
		if err := ensureDir(at(s.target), cfg.Image != ""); err != nil {
			return err
		}
		if err := unix.Mount(s.fstype, at(s.target), s.fstype, s.flags, s.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", s.fstype, s.target, err)
		}
	}
	if cfg.Image != "" {
		if err := makeDev(root); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		fd     int
		target string
	}{{fdHosts, "/etc/hosts"}, {fdHostname, "/etc/hostname"}} {
		if err := ensureFile(at(b.target), cfg.Image != ""); errors.Is(err, fs.ErrNotExist) {
			continue // nothing to cover on this host
		} else if err != nil {
			return err
		}
		if err := attach(b.fd, at(b.target)); err != nil {
			return fmt.Errorf("bind %s: %w", b.target, err)
		}
	}
	for i, m := range cfg.Mounts {
		if err := bindMount(fdMounts+i, at(m.Dst), m, cfg.Image != ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Src, m.Dst, err)
		}
	}
	if cfg.Image != "" {
		return pivot(root)
	}
	return nil
}

// mountOverlay mounts the node's root: the image read-only below, the
// node's own upper layer above. Its layers arrive as detached mounts
// (overlayfs takes layers only from the caller's mount namespace) and are
// attached on a scratch tmpfs, which leaves with the host's root at pivot.
func mountOverlay(cfg *Config) (string, error) {
	base := fdMounts + len(cfg.Mounts)
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", nodev, "mode=700"); err != nil {
		return "", fmt.Errorf("scratch tmpfs: %w", err)
	}
	lower, fsDir, root := "/tmp/lower", "/tmp/fs", "/tmp/root"
	for i, p := range []string{lower, fsDir, root} {
		if err := os.Mkdir(p, 0o755); err != nil {
			return "", err
		}
		if i < 2 {
			if err := attach(base+i, p); err != nil {
				return "", fmt.Errorf("attach overlay layer: %w", err)
			}
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, fsDir, fsDir)
	if cfg.UserNS {
		// trusted.* xattrs are out of reach in a user namespace.
		opts += ",userxattr"
	}
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay of image %s: %w", cfg.Image, err)
	}
	return root, nil
}

// makeDev gives an image node a minimal /dev: the usual character devices
// (bound from the host's, since a user namespace may not create them), its
// own devpts instance, and shared memory.
func makeDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := ensureDir(dev, true); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, d)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", nodev, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// pivot makes root the node's / and lets go of the host's root.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// With new and old root the same folder, the old root ends up mounted
	// on top of the new one, where it is detached.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// bindMount binds the inherited descriptor fd onto target. A missing
// target is created in an image node's own root, and in a host-view node
// only inside its private /tmp and /run: anywhere else it would appear on
// the host.
func bindMount(fd int, target string, m Mount, own bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		if !own && !private(m.Dst) {
			return fmt.Errorf("target does not exist in the node (topo creates targets only under /tmp and /run, or in an image)")
		}
		if isDir {
			err = os.MkdirAll(target, 0o755)
		} else {
			err = ensureFile(target, true)
		}
		if err != nil {
			return err
		}
	}
	if err := attach(fd, target); err != nil {
		return err
	}
	if m.ReadOnly {
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if err := unix.Mount("", target, "", flags, ""); err != nil {
			return fmt.Errorf("make read-only: %w", err)
		}
	}
	return nil
}

// attach moves the detached mount fd (see openTree) onto target and makes
// it private: the clone of a shared host mount would otherwise share what
// is mounted below it with the host.
func attach(fd int, target string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return err
	}
	return unix.Mount("", target, "", unix.MS_REC|unix.MS_PRIVATE, "")
}

// ensureDir makes sure p is a folder, creating it when create is set.
func ensureDir(p string, create bool) error {
	if !create {
		return nil
	}
	return os.MkdirAll(p, 0o755)
}

// ensureFile makes sure p exists as a mount point for a file, creating it
// (and its folder) when create is set.
func ensureFile(p string, create bool) error {
	if _, err := os.Stat(p); err == nil || !create {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
