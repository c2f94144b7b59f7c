package sensors

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// statFS returns the size and free space of the filesystem holding path.
func statFS(path string) (Storage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Storage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	// Block counts are in units of the fragment size (statfs(2)); older
	// kernels leave it zero, and then it equals the block size.
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return Storage{Total: st.Blocks * unit, Free: st.Bfree * unit, Available: st.Bavail * unit}, nil
}
