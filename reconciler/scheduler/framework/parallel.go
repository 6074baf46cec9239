package framework

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// DefaultParallelism is kube-scheduler's default number of workers.
const DefaultParallelism = 16

// chunkSizeFor is kube-scheduler's chunk size: about the square root of
// the work, but small enough that every worker gets a chunk.
func chunkSizeFor(n, parallelism int) int {
	s := int(math.Sqrt(float64(n)))
	if r := n/parallelism + 1; s > r {
		s = r
	}
	return max(s, 1)
}

// parallelize runs work(i) for i in [0, n) on up to workers goroutines,
// handing out chunks of consecutive indexes in order. It stops handing out
// work once stop is set or ctx is done, and returns when every started
// piece has finished.
func parallelize(ctx context.Context, workers, n int, stop *atomic.Bool, work func(i int)) {
	if n == 0 {
		return
	}
	chunk := chunkSizeFor(n, workers)
	chunks := (n + chunk - 1) / chunk
	workers = min(workers, chunks)
	var next atomic.Int64
	run := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks || ctx.Err() != nil {
				return
			}
			end := min((c+1)*chunk, n)
			for i := c * chunk; i < end; i++ {
				if stop.Load() {
					return
				}
				work(i)
			}
		}
	}
	if workers <= 1 {
		run()
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	wg.Wait()
}
