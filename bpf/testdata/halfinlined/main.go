// Command halfinlined locks one mutex through the sync.Locker interface
// (which keeps an out-of-line sync.(*Mutex).Lock in the binary) and
// another directly (inlined in a normal build): lock-order probes on such
// a binary would see only some acquisitions and releases.
package main

import (
	"fmt"
	"sync"
)

var a, b sync.Mutex

func viaInterface(l sync.Locker) {
	l.Lock()
	defer l.Unlock()
	b.Lock() // inlined
	b.Unlock()
}

func main() {
	viaInterface(&a)
	fmt.Println("done")
}
