// Package atomicfile writes files so that a crash or power cut at any
// instant leaves either the old content or the new, never a mix: a
// temporary file in the same directory, fsync, rename (or a hard link that
// refuses to replace), then an fsync of the directory (DESIGN §6).
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by WriteFile without overwrite when path exists.
var ErrExists = errors.New("atomicfile: file exists")

// WriteFile writes data to path with mode perm. Without overwrite it fails
// with ErrExists if path exists, and never replaces a file that appears
// meanwhile. On error the temporary file is removed.
func WriteFile(path string, data []byte, perm fs.FileMode, overwrite bool) (err error) {
	dir := filepath.Dir(path)
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if overwrite {
		err = os.Rename(tmp, path)
	} else {
		err = linkNoReplace(tmp, path)
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// linkNoReplace moves tmp to path unless path exists. A hard link is atomic
// and fails if path exists; on a file system without hard links it falls
// back to a check and a rename.
func linkNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		os.Remove(tmp) // best effort: path now holds the data
		return nil
	case errors.Is(err, fs.ErrExist):
		os.Remove(tmp)
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if _, serr := os.Lstat(path); serr == nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	return os.Rename(tmp, path)
}

// SyncDir fsyncs a directory so that a rename in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
