package trust

import (
	"io/fs"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// WriteFlag changes how WriteKeyFile, WriteCertFile and the directory
// helpers write a file.
type WriteFlag uint8

// Overwrite lets a write replace an existing file. Without it, writing to a
// path that exists fails with ErrExists.
const Overwrite WriteFlag = 1

func hasFlag(flags []WriteFlag, f WriteFlag) bool {
	for _, g := range flags {
		if g&f != 0 {
			return true
		}
	}
	return false
}

// writeFileAtomic writes data to path so that a crash leaves the old file
// or the new one, never a mix (see package atomicfile).
func writeFileAtomic(path string, data []byte, perm fs.FileMode, overwrite bool) error {
	return atomicfile.WriteFile(path, data, perm, overwrite)
}
