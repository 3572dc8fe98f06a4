package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/payd/payd/internal/testnode"
)

// env is what every figure gets: the work directory, how many A/B pairs to
// run, a time scale, and the payd binary (built on first use).
type env struct {
	root  string
	work  string
	pairs int
	quick bool
	// forceProf profiles every figure that can be profiled, met or not.
	forceProf bool
	payd      string // path of the built payd binary ("" until built)
	src       string // the exported HEAD tree payd is built from ("" until exported)
	paydErr   error
	prof      string // payd built with the pprof overlay
	profErr   error
}

// scale shortens d in -quick mode.
func (e *env) scale(d time.Duration) time.Duration {
	if e.quick {
		return d / 4
	}
	return d
}

type figureSpec struct {
	id    string
	title string
	run   func(*env, *Figure)
}

var figures = []figureSpec{
	{"1", "Invoice creation over HTTP", figCreate},
	{"1-pg", "Invoice creation over HTTP on PostgreSQL", figCreatePG},
	{"2", "Bitcoin block scan", figBitcoinScan},
	{"3", "EVM block scan", figEVMScan},
	{"4", "Detection latency on real local nodes", figDetect},
	{"5", "Webhook delivery throughput", figWebhook},
	{"6", "Scale: 1,000,000 open invoices", figScale},
	{"7", "Catch-up after 1,000 Bitcoin blocks", figCatchup},
}

func main() {
	only := flag.String("only", "", "comma-separated figure numbers to run (default: all)")
	pairs := flag.Int("pairs", 5, "interleaved payd/baseline pairs per figure (≥ 3)")
	quick := flag.Bool("quick", false, "shorter runs and smaller counts (for trying the harness; not for the committed report)")
	out := flag.String("out", "", "directory holding docs/ and bench/ for the outputs (default: the repository root)")
	forceProf := flag.Bool("profile", false, "capture the profiles even for goals that are met")
	keep := flag.Bool("keep", false, "keep the work directory (profiles, logs, databases)")
	verbose := flag.Bool("v", false, "debug logging")
	render := flag.Bool("render", false, "measure nothing: rewrite docs/benchmarks.md from bench/results.json (after editing the findings)")
	flag.Parse()
	lvl := slog.LevelInfo
	if *verbose {
		lvl = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
	debug.SetGCPercent(200)

	root, err := testnode.RepoRoot()
	if err != nil {
		fatalf("%v", err)
	}
	if *out == "" {
		*out = root
	}
	if *render {
		b, err := os.ReadFile(filepath.Join(*out, "bench", "results.json"))
		if err != nil {
			fatalf("%v", err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			fatalf("results.json: %v", err)
		}
		if err := rep.write(*out, false); err != nil {
			fatalf("%v", err)
		}
		return
	}
	work, err := os.MkdirTemp("", "payd-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	e := &env{root: root, work: work, pairs: max(*pairs, 3), quick: *quick, forceProf: *forceProf}
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	defer stopNodes()
	// Ctrl-C / SIGTERM: stop the daemons and nodes of the figure first.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		slog.Warn("interrupted: stopping daemons and nodes")
		if t := curTB; t != nil {
			t.cleanup()
		}
		stopNodes()
		if !*keep {
			os.RemoveAll(work)
		}
		os.Exit(130)
	}()
	rep := &Report{Machine: machine(), Started: time.Now().UTC(), Quick: *quick, Pairs: e.pairs}
	for _, spec := range figures {
		if len(want) > 0 && !want[spec.id] {
			continue
		}
		f := runFigure(e, spec)
		rep.Figures = append(rep.Figures, f)
		for _, r := range f.Rows {
			slog.Info("row", "figure", r.Figure, "payd", fmt.Sprintf("%.4g %s", r.Payd, r.Unit), "baseline", r.Baseline, "ratio", fmt.Sprintf("%.3f", r.Ratio), "goal", r.Goal, "met", fmtMet(r.Met), "error", r.Error)
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Machine.LoadAvg = append(rep.Machine.LoadAvg, loadavg())
	if err := rep.write(*out, len(want) > 0); err != nil {
		fatalf("%v", err)
	}
	slog.Info("bench done", "seconds", fmt.Sprintf("%.0f", rep.Seconds), "work", work)
}

// runFigure runs one figure, turning a Fatalf/panic into the figure's error.
func runFigure(e *env, spec figureSpec) (f *Figure) {
	f = &Figure{ID: spec.id, Title: spec.title}
	t := newTB("fig"+spec.id, e.work)
	start := time.Now()
	slog.Info("figure", "id", spec.id, "title", spec.title)
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if fe, ok := r.(fatal); ok {
				msg = fe.msg
			} else {
				msg += "\n" + string(debug.Stack())
			}
			f.Error = msg
			slog.Error("figure failed", "id", spec.id, "err", msg)
		}
		t.cleanup()
		f.Seconds = time.Since(start).Seconds()
		runtime.GC()
		debug.FreeOSMemory()
	}()
	curTB = t
	spec.run(e, f)
	return f
}

// curTB is the running figure's TB (for helpers that start nodes).
var curTB *tb

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func fmtMet(m *bool) string {
	switch {
	case m == nil:
		return "–"
	case *m:
		return "yes"
	}
	return "NO"
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryMB  int    `json:"memory_mb"`
	Go        string `json:"go"`
	OS        string `json:"os"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	Kernel    string `json:"kernel"`
	GOMAXPROC int    `json:"gomaxprocs"`
	// LoadAvg is /proc/loadavg when the run started and when it ended:
	// other work on the machine shows up here.
	LoadAvg []string `json:"loadavg,omitempty"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format(time.RFC3339), GOMAXPROC: runtime.GOMAXPROCS(0), LoadAvg: []string{loadavg()}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryMB = kb / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := runCmd("", "git", "rev-parse", "--short", "HEAD"); err == nil {
		m.Commit = strings.TrimSpace(b)
	}
	return m
}

// tempPath returns a path under the work directory.
func (e *env) tempPath(parts ...string) string {
	return filepath.Join(append([]string{e.work}, parts...)...)
}
