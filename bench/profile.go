package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// profileInProcess runs f for about d under the CPU profiler and returns
// the top entries of `go tool pprof -top`.
func profileInProcess(dir, name string, d time.Duration, f func()) []string {
	path := filepath.Join(dir, name+".cpu.pprof")
	out, err := os.Create(path)
	if err != nil {
		return []string{"profile: " + err.Error()}
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return []string{"profile: " + err.Error()}
	}
	start := time.Now()
	for time.Since(start) < d {
		f()
	}
	pprof.StopCPUProfile()
	out.Close()
	return topOf(path, "")
}

// profileDaemon fetches a CPU profile of a running payd built with the
// bench's pprof overlay (pprofAddr is its PAYD_BENCH_PPROF address) while
// load runs, and returns the top entries.
func profileDaemon(dir, name, bin, pprofAddr string, d time.Duration, load func(stop <-chan struct{})) []string {
	path := filepath.Join(dir, name+".cpu.pprof")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); load(stop) }()
	defer func() { close(stop); <-done }()
	c := &http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(d.Seconds())))
	if err != nil {
		return []string{"profile: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return []string{fmt.Sprintf("profile: status %d %v", resp.StatusCode, err)}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return []string{"profile: " + err.Error()}
	}
	return topOf(path, bin)
}

// fetchTop fetches /debug/pprof/<what> from a profiling payd at addr
// (retrying the connection for up to 10 s, since the daemon may only be
// starting) and returns the top entries; extra are pprof flags.
func fetchTop(dir, name, bin, addr, what string, timeout time.Duration, extra ...string) []string {
	path := filepath.Join(dir, name+".pprof")
	c := &http.Client{Timeout: timeout}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err = c.Get(fmt.Sprintf("http://%s/debug/pprof/%s", addr, what))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return []string{"profile: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return []string{fmt.Sprintf("profile: status %d %v", resp.StatusCode, err)}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return []string{"profile: " + err.Error()}
	}
	return topOf(path, bin, extra...)
}

// topOf summarises a profile: the header and the 12 heaviest functions by
// cumulative and by flat time.
func topOf(path, bin string, extra ...string) []string {
	var lines []string
	// flat, cum, and cum of payd's own functions only (where in payd the
	// time goes, below the HTTP and SQL plumbing).
	for _, sort := range []string{"-flat", "-cum", "-cum -show=payd/payd/[a-z]"} {
		n := "-nodecount=12"
		if strings.Contains(sort, "-show") {
			n = "-nodecount=25"
		}
		args := append([]string{"tool", "pprof", "-top", n}, extra...)
		args = append(args, strings.Fields(sort)...)
		if bin != "" {
			args = append(args, bin)
		}
		args = append(args, path)
		cmd := exec.Command("go", args...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return append(lines, "pprof: "+err.Error()+": "+strings.TrimSpace(buf.String()))
		}
		started := false
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "flat") {
				started = true
				label := strings.TrimPrefix(sort, "-")
				if strings.Contains(sort, "-show") {
					label = "cum, payd functions only"
				}
				lines = append(lines, "("+label+") "+strings.TrimSpace(l))
				continue
			}
			if strings.HasPrefix(l, "Showing nodes") || strings.HasPrefix(l, "Duration") || strings.HasPrefix(l, "Type:") {
				if sort == "-flat" {
					lines = append(lines, strings.TrimSpace(l))
				}
				continue
			}
			if started && strings.TrimSpace(l) != "" {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
	}
	return lines
}
