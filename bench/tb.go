package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// tb implements testnode.TB for a program: Fatalf aborts the current figure
// (recovered by runFigure), Cleanup runs when the figure ends.
type tb struct {
	name string
	dir  string
	mu   sync.Mutex
	fns  []func()
	n    int
}

type fatal struct{ msg string }

func newTB(name, dir string) *tb { return &tb{name: name, dir: dir} }

func (t *tb) Helper() {}

func (t *tb) Fatalf(format string, args ...any) {
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (t *tb) Logf(format string, args ...any) {
	slog.Debug("node", "figure", t.name, "msg", fmt.Sprintf(format, args...))
}

func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.fns = append(t.fns, f)
	t.mu.Unlock()
}

func (t *tb) TempDir() string {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	d := fmt.Sprintf("%s/%s-%d", t.dir, t.name, n)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatalf("tempdir: %v", err)
	}
	return d
}

// cleanup runs the registered functions, last first.
func (t *tb) cleanup() {
	t.mu.Lock()
	fns := t.fns
	t.fns = nil
	t.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		func() {
			defer func() { _ = recover() }()
			fns[i]()
		}()
	}
}
