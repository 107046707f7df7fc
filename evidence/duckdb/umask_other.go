//go:build !unix

package duckdb

// addUmask does nothing where there is no umask; file access follows the
// directory's ACL there.
func addUmask(int) {}
