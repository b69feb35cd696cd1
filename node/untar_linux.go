package node

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// untar says how extract treats an archive.
type untar struct {
	// place maps an entry's cleaned, slash-separated name to where it
	// lands, relative to the folder ("" skips the entry); an error refuses
	// the archive.
	place func(name string) (string, error)
	// full keeps owners, device nodes, fifos and hard links (an image);
	// a copy skips them and its files belong to whoever extracts.
	full bool
}

// extract unpacks a tar stream into dir, keeping modes and times. Entries
// that would land outside dir are refused. Folders get their modes last,
// deepest first, since a mode may forbid writing into them.
func extract(r io.Reader, dir string, o untar) error {
	tr := tar.NewReader(r)
	root := filepath.Clean(dir) + string(filepath.Separator)
	inside := func(rel string) (string, error) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if !strings.HasPrefix(p, root) {
			return "", fmt.Errorf("entry %q leaves %s", rel, dir)
		}
		return p, nil
	}
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
		rel, err := o.place(strings.TrimPrefix(path.Clean("/"+h.Name), "/"))
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		p, err := inside(rel)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, stamp{p, h})
			continue
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			if o.full {
				_ = os.Lchown(p, h.Uid, h.Gid)
			}
			continue
		case tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if !o.full {
				continue // a copy takes files, folders and links only
			}
			if h.Typeflag == tar.TypeLink {
				target, err := inside(strings.TrimPrefix(path.Clean("/"+h.Linkname), "/"))
				if err != nil {
					return err
				}
				if err := os.Link(target, p); err != nil {
					return err
				}
				continue
			}
			kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
			if err := unix.Mknod(p, kind|mode, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
				return err
			}
		default:
			continue
		}
		if o.full {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		// After chown, which clears set-id bits.
		if err := unix.Chmod(p, mode); err != nil {
			return err
		}
		_ = os.Chtimes(p, h.AccessTime, h.ModTime)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if o.full {
			_ = os.Lchown(d.p, d.h.Uid, d.h.Gid)
		}
		_ = unix.Chmod(d.p, uint32(d.h.Mode&0o7777))
		_ = os.Chtimes(d.p, d.h.AccessTime, d.h.ModTime)
	}
	return nil
}
