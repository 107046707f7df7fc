//go:build cgotls

// Thread-locals of C code in the executable's TLS block, as in any cgo
// binary linking C or C++ libraries with them: they move the Go runtime's
// g away from its default place below the thread pointer.

package main

/*
__thread char debugai_tls_pad[4096];
static void touch(void) { debugai_tls_pad[0] = 1; }
*/
import "C"

func init() { C.touch() }
