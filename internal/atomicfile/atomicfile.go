// Package atomicfile writes files so that readers see either the old content
// or the whole new content, never a partly written file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with permissions perm through a temporary file
// in the same folder and a rename.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // nolint: errcheck
	if _, err = tmp.Write(data); err != nil {
		tmp.Close() // nolint: errcheck
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		tmp.Close() // nolint: errcheck
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
