//go:build unix

package duckdb

import "syscall"

// addUmask adds bits to the process umask.
func addUmask(bits int) {
	old := syscall.Umask(bits)
	syscall.Umask(old | bits)
}
