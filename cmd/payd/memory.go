package main

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory after startup (docs/production.md, "Memory").
//
// Loading the watched addresses is payd's allocation peak: once every
// watcher has loaded them, the daemon returns the freed pages to the OS
// (debug.FreeOSMemory) and, unless GOMEMLIMIT is set, keeps a soft memory
// limit that follows the live heap: live + max(live/2, 64 MiB) + the
// runtime's non-heap memory, capped at 90 % of the cgroup's memory.max when
// there is one. With the default GOGC=100 the heap would otherwise grow to
// twice the live set before a collection; the limit lets it grow by half
// (at least 64 MiB), and since it is derived again every minute from the
// live heap it never falls below what payd needs (a fixed limit would make
// the GC run without pause once the set outgrew it).

// memoryHeadroomMin is the least heap growth the limit allows above the
// live heap.
const memoryHeadroomMin = 64 << 20

// memoryEvery is how often the derived limit follows the live heap.
const memoryEvery = time.Minute

// derivedMemoryLimit is the soft limit for a live heap of live bytes, other
// bytes of non-heap Go memory (stacks, runtime metadata), and a cgroup
// memory limit (0: none).
func derivedMemoryLimit(live, other, cgroup uint64) int64 {
	l := live + max(live/2, memoryHeadroomMin) + other
	if cgroup > 0 {
		l = min(l, cgroup/10*9)
	}
	return int64(min(l, math.MaxInt64))
}

var memSamples = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

// goMemory returns the live heap (as of the last GC) and the Go memory not
// in the heap.
func goMemory() (live, other uint64) {
	metrics.Read(memSamples)
	v := func(i int) uint64 {
		if memSamples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return memSamples[i].Value.Uint64()
	}
	live = v(0)
	heap := v(2) + v(3) + v(4) + v(5)
	if total := v(1); total > heap {
		other = total - heap
	}
	return live, other
}

// cgroupMemoryMax reads the memory limit of payd's cgroup (v2 memory.max,
// v1 memory.limit_in_bytes, at the path /proc/self/cgroup names, then at
// the mount's root as a container sees it); 0 when there is none.
func cgroupMemoryMax() uint64 {
	var paths []string
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			switch {
			case f[0] == "0" && f[1] == "":
				paths = append(paths, filepath.Join("/sys/fs/cgroup", f[2], "memory.max"))
			case slices.Contains(strings.Split(f[1], ","), "memory"):
				paths = append(paths, filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes"))
			}
		}
	}
	paths = append(paths, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	for _, p := range paths {
		if n, ok := readCgroupLimit(p); ok {
			return n
		}
	}
	return 0
}

// readCgroupLimit reads one limit file: ok is false if there is no file,
// n is 0 for no limit ("max", or v1's ~2^63).
func readCgroupLimit(path string) (n uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n >= 1<<60 {
		return 0, true
	}
	return n, true
}

// memoryTuner runs after the initial load: see the comment at the top.
type memoryTuner struct {
	log    *slog.Logger
	fixed  bool // GOMEMLIMIT is set: the runtime's limit is left alone
	cgroup uint64
	limit  int64

	noChains bool

	mu      sync.Mutex
	waiting map[string]bool // chains whose first load is not done
	total   int
	done    chan struct{} // closed after the first load of every chain
}

func newMemoryTuner(log *slog.Logger, chains []string) *memoryTuner {
	m := &memoryTuner{log: log.With("subsystem", "memory"), fixed: os.Getenv("GOMEMLIMIT") != "", cgroup: cgroupMemoryMax(),
		noChains: len(chains) == 0, waiting: map[string]bool{}, done: make(chan struct{})}
	for _, c := range chains {
		m.waiting[c] = true
	}
	return m
}

// chainLoaded is a watcher's Loaded hook for chain: after the first load of
// the last chain, loaded runs. A watcher's later loads (after a restart)
// change nothing.
func (m *memoryTuner) chainLoaded(chain string, addresses int) {
	m.mu.Lock()
	if !m.waiting[chain] {
		m.mu.Unlock()
		return
	}
	delete(m.waiting, chain)
	m.total += addresses
	last, total := len(m.waiting) == 0, m.total
	m.mu.Unlock()
	if last {
		m.loaded(total)
	}
}

// loaded returns the load's garbage to the OS and sets the first limit.
func (m *memoryTuner) loaded(addresses int) {
	defer close(m.done)
	debug.FreeOSMemory() // a GC, then the free pages back to the OS
	live, other := goMemory()
	if m.fixed {
		m.log.Info("memory after loading", "addresses", addresses, "live_heap_mb", live>>20,
			"limit_mb", debug.SetMemoryLimit(-1)>>20, "limit_source", "GOMEMLIMIT")
		return
	}
	m.set(live, other)
	m.log.Info("memory after loading", "addresses", addresses, "live_heap_mb", live>>20,
		"limit_mb", m.limit>>20, "limit_source", "derived", "cgroup_mb", m.cgroup>>20)
}

func (m *memoryTuner) set(live, other uint64) {
	m.limit = derivedMemoryLimit(live, other, m.cgroup)
	debug.SetMemoryLimit(m.limit)
}

// Run waits for the first load (with no chain configured, runs it now),
// then derives the limit again every memoryEvery until ctx is done.
func (m *memoryTuner) Run(ctx context.Context) error {
	if m.noChains {
		m.loaded(0)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-m.done:
	}
	if m.fixed {
		return nil
	}
	t := time.NewTicker(memoryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.set(goMemory())
		}
	}
}
