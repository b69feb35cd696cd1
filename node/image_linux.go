package node

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
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
	// Names are taken relative to the image's root; the root itself is
	// the folder just made.
	return extract(r, dir, untar{full: true, place: func(rel string) (string, error) {
		if rel == "" || rel == "." {
			return "", nil
		}
		return rel, nil
	}})
}
