package duckdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// fileMode is the mode of every file a writable store creates: the database,
// its write-ahead log (<file>.wal) and DuckDB's spill directory (<file>.tmp,
// 0700). The evidence is tokenized and payload-free, but it still describes
// a production system's traffic: only its owner reads it.
const fileMode = 0o600

// privateMask is added to the process umask by every writable Open.
// DuckDB creates its files itself with mode 0666 (directories 0777) less the
// umask, and it removes the write-ahead log at every checkpoint and creates it
// again at the next write, at any time during the store's life, on threads of
// its own. The umask is the only control over those modes, and it is one per
// process: a process that opens a store for writing creates every later file
// without group or other access (debugai creates no file meant to be shared).
const privateMask = 0o077

// prepareFiles makes path's files private before DuckDB opens them: it adds
// privateMask to the process umask (DuckDB refuses a database file created
// empty beforehand, so it has to create the file itself) and removes group
// and other access from an existing database file and write-ahead log
// (stores created by older versions).
func prepareFiles(path string) error {
	addUmask(privateMask)
	for _, p := range []string{path, path + ".wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking file mode: %w", err)
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&^fileMode != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&fileMode); err != nil {
				return fmt.Errorf("restricting file mode: %w", err)
			}
		}
	}
	return nil
}
