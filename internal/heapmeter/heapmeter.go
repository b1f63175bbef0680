// Package heapmeter measures the Go heap for the emulators' memory
// benchmarks: the live heap after a collection, and the largest heap seen
// while a load runs (garbage not yet collected included: what the
// resident size follows).
package heapmeter

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// Live is the heap in use after a full collection, in bytes.
func Live() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// Peak watches the heap's size until the returned function is called,
// which returns the largest size seen, in bytes.
func Peak() func() int64 {
	done, peak := make(chan struct{}), make(chan int64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var most int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			most = max(most, int64(s[0].Value.Uint64()))
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}
