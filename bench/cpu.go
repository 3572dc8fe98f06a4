package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU accounting from /proc, to say what a load round was bound by on a
// machine with few cores: how many cores each process group used, and how
// busy the whole machine was (other work included).

// clkTck is USER_HZ (100 on every Linux the bench runs on).
const clkTck = 100

// procTicks returns utime+stime of pid, plus cutime+cstime (its waited-for
// children: PostgreSQL backends that exited) when withChildren.
func procTicks(pid int, withChildren bool) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is state (field 3); utime is field 14 → f[11].
	if len(f) < 15 {
		return 0
	}
	var n int64
	last := 12
	if withChildren {
		last = 14
	}
	for _, x := range f[11 : last+1] {
		v, _ := strconv.ParseInt(x, 10, 64)
		n += v
	}
	return n
}

// treeTicks is procTicks of pid with its exited children plus its live
// children (a postmaster and its backends).
func treeTicks(pid int) int64 {
	n := procTicks(pid, true)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n += procTicks(c, false)
		}
	}
	return n
}

// machineTicks returns the busy and total ticks of all CPUs (/proc/stat).
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, x := range f[1:] {
		v, _ := strconv.ParseInt(x, 10, 64)
		if i >= 8 { // guest, guest_nice are already in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// cpuGroup is a named set of processes; tree includes live children.
type cpuGroup struct {
	name string
	pids []int
	tree bool
}

// cpuSnap is one reading of every group and the machine.
type cpuSnap struct {
	at          time.Time
	groups      []int64
	busy, total int64
}

func snapCPU(groups []cpuGroup) cpuSnap {
	s := cpuSnap{at: time.Now()}
	for _, g := range groups {
		var n int64
		for _, p := range g.pids {
			if g.tree {
				n += treeTicks(p)
			} else {
				n += procTicks(p, false)
			}
		}
		s.groups = append(s.groups, n)
	}
	s.busy, s.total = machineTicks()
	return s
}

// cpuUse is the cores each group used between two snapshots, and the
// machine's busy cores ("machine") over the same time.
func cpuUse(groups []cpuGroup, a, b cpuSnap) map[string]float64 {
	el := b.at.Sub(a.at).Seconds()
	out := map[string]float64{}
	if el <= 0 {
		return out
	}
	for i, g := range groups {
		out[g.name] += float64(b.groups[i]-a.groups[i]) / clkTck / el
	}
	if b.total > a.total {
		// total ticks cover every CPU: busy share × cores.
		out["machine"] = float64(b.busy-a.busy) / float64(b.total-a.total) * float64(numCPU())
	}
	return out
}

func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}
