package node

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// IsTarball reports whether an image path names an archive rather than a
// root filesystem folder.
func IsTarball(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// ExtractImage unpacks a root filesystem tarball (.tar, or gzip-compressed)
// into dir, which must not exist, keeping modes, owners, links and device
// nodes. Entries that would land outside dir are refused. Run as root in
// the host's namespaces; a lab extracts each tarball once for all its nodes.
func ExtractImage(tarball, dir string) (err error) {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	magic := make([]byte, 2)
	if _, err := io.ReadFull(f, magic); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		f.Seek(0, io.SeekStart)
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("image %s: %w", tarball, err)
		}
		defer gz.Close()
		r = gz
	} else {
		f.Seek(0, io.SeekStart)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("image %s: %w", tarball, err)
		}
	}()
	tr := tar.NewReader(r)
	root := filepath.Clean(dir) + string(filepath.Separator)
	type stamp struct {
		p string
		h *tar.Header
	}
	var dirs []stamp
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		p := filepath.Join(dir, name)
		if !strings.HasPrefix(p, root) {
			return fmt.Errorf("entry %q leaves the image", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, stamp{p, h})
			continue
		case tar.TypeReg:
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			_ = os.Lchown(p, h.Uid, h.Gid)
			continue
		case tar.TypeLink:
			target := filepath.Join(dir, filepath.Clean("/"+h.Linkname))
			if !strings.HasPrefix(target, root) {
				return fmt.Errorf("link %q leaves the image", h.Name)
			}
			if err := os.Link(target, p); err != nil {
				return err
			}
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			m := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
			if err := unix.Mknod(p, m|mode, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
				return err
			}
		default:
			continue
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			return err
		}
		if err := unix.Chmod(p, mode); err != nil {
			return err
		}
		_ = os.Chtimes(p, h.AccessTime, h.ModTime)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		_ = os.Lchown(d.p, d.h.Uid, d.h.Gid)
		_ = unix.Chmod(d.p, uint32(d.h.Mode&0o7777))
	}
	return nil
}
