package watcher

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payd/payd/chain/chaintest"
)

// chunkRecorder is a backend that records the size of every Watch call.
type chunkRecorder struct {
	*chaintest.Fake
	calls []int
}

func (r *chunkRecorder) Watch(addrs ...string) {
	r.calls = append(r.calls, len(addrs))
	r.Fake.Watch(addrs...)
}

// TestLoadStreamsInChunks: Run's load hands every watched address to the
// backend, in chunks of the given size, and counts them.
func TestLoadStreamsInChunks(t *testing.T) {
	e := newEnv(t, "")
	var addrs []string
	for i := range 5 {
		a := fmt.Sprintf("bcrt1qload%d", i)
		e.create(fmt.Sprintf("inv_load%d", i), a, 1000, 1)
		addrs = append(addrs, a)
	}
	tests := []struct {
		size  int
		calls []int
	}{
		{1, []int{1, 1, 1, 1, 1, 0}},
		{2, []int{2, 2, 1}},
		{5, []int{5, 0}},
		{4096, []int{5}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			rec := &chunkRecorder{Fake: chaintest.New("bitcoin")}
			w := New(Config{}, Deps{DB: e.db, Backend: rec, Now: e.clk.Now})
			n, err := w.load(context.Background(), e.clk.Now(), tc.size)
			if err != nil || n != len(addrs) {
				t.Fatalf("load = %d, %v; want %d", n, err, len(addrs))
			}
			if !slices.Equal(rec.calls, tc.calls) {
				t.Errorf("Watch calls %v, want %v", rec.calls, tc.calls)
			}
			for _, a := range addrs {
				if !rec.Watched(a) {
					t.Errorf("%s not watched", a)
				}
			}
		})
	}
	// Past every invoice's watch: nothing is loaded.
	rec := &chunkRecorder{Fake: chaintest.New("bitcoin")}
	w := New(Config{}, Deps{DB: e.db, Backend: rec})
	if n, err := w.load(context.Background(), e.clk.Now().Add(49*time.Hour), 2); err != nil || n != 0 {
		t.Fatalf("load after the watch = %d, %v", n, err)
	}
}

// TestRunCallsLoaded: Run reports how many addresses it loaded before it
// follows the chain.
func TestRunCallsLoaded(t *testing.T) {
	e := newEnv(t, "")
	e.create("inv_l1", "bcrt1qloaded1", 1000, 1)
	e.create("inv_l2", "bcrt1qloaded2", 1000, 1)
	got := make(chan int, 1)
	e.w.d.Loaded = func(n int) { got <- n }
	e.start()
	if n := <-got; n != 2 {
		t.Fatalf("Loaded(%d), want 2", n)
	}
}
