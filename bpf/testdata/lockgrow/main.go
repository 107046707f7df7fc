// Command lockgrow makes its goroutine's stack grow inside the lock
// functions the lock-order probes watch. descend takes and releases a read
// lock at every level of a recursion that needs several times the initial
// goroutine stack: descend and RLock are called from the same frame, so
// they are entered with the same stack pointer, RLock first, and the
// functions RLock and RUnlock call on their fast path (atomic adds) are
// leaves without a stack check. The first check to find the stack
// exhausted is therefore always RLock's: every growth happens in RLock's
// prologue, which calls runtime.morestack and restarts RLock from its
// first instruction. Once back at the top, the goroutine takes mu, with
// nothing held.
//
// It prints the addresses of rw and mu, waits for a line on stdin, runs,
// prints "acquisitions <n>" and "done", and exits at the next line or EOF.
// Built with -gcflags=all=-l (lock functions out of line).
package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"
)

var (
	rw sync.RWMutex
	mu sync.Mutex
)

// depth levels of 24 bytes each (return address, frame pointer, spilled
// argument): 384 KiB of stack, grown from 8 KiB (or the runtime's adaptive
// initial size) through several doublings.
const depth = 16384

func descend(n int) int {
	if n == 0 {
		return 0
	}
	rw.RLock()
	rw.RUnlock()
	return descend(n-1) + 1
}

func main() {
	fmt.Printf("rw %p\nmu %p\n", &rw, &mu)
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	done := make(chan int)
	go func() {
		n := descend(depth)
		mu.Lock()
		mu.Unlock()
		done <- n + 1
	}()
	fmt.Printf("acquisitions %d\n", <-done)
	fmt.Println("done")
	in.Scan()
}
