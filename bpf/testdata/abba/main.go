// Command abba takes two global mutexes in both orders, one goroutine
// after the other, so that it never deadlocks: a lock-order inversion that
// only a lock graph can see. It prints its mutexes' addresses, waits for a
// line on stdin, runs, prints "done" and exits at the next line or EOF.
//
// The lock-order test builds it with -gcflags=all=-l (no inlining) and
// finds the lines marked "site:" below in the collector's edges.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"
)

var (
	muA sync.Mutex
	muB sync.Mutex
	rw  sync.RWMutex
)

func lockAB() {
	muA.Lock() // site:AB-held
	muB.Lock() // site:AB-acquiring
	muB.Unlock()
	muA.Unlock()
}

func lockBA() {
	muB.Lock() // site:BA-held
	muA.Lock() // site:BA-acquiring
	muA.Unlock()
	muB.Unlock()
}

// readUnderA nests a read lock under muA: a third edge.
func readUnderA() {
	muA.Lock()
	rw.RLock() // site:A-R-acquiring
	rw.RUnlock()
	muA.Unlock()
}

// tryUnderRW attempts muB with TryLock while holding rw (the write lock):
// an order edge even though TryLock may fail; muB is then not held, so
// nothing taken after it is ordered after it.
func tryUnderRW() {
	rw.Lock()
	if muB.TryLock() { // site:RW-B-try
		muB.Unlock()
	}
	rw.Unlock()
}

func main() {
	fmt.Printf("muA %p\nmuB %p\nrw %p\n", &muA, &muB, &rw)
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	rw.Lock() // nothing held: no edge
	rw.Unlock()
	if muB.TryLock() { // nothing held: no edge
		muB.Unlock()
	}
	for i := 0; i < 100; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); lockAB() }()
		wg.Wait()
		wg.Add(1)
		go func() { defer wg.Done(); lockBA() }()
		wg.Wait()
		readUnderA()
		tryUnderRW()
	}
	fmt.Println("done")
	in.Scan()
}
