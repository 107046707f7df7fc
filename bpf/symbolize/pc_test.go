package symbolize

import "runtime"

// funcPC returns an address inside itself.
//
//go:noinline
func funcPC() uint64 {
	pc, _, _, _ := runtime.Caller(0)
	return uint64(pc)
}
