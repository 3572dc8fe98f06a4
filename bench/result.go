package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Row is one line of the table.
type Row struct {
	// Figure is the figure's number and variant ("1", "2a", "6-rss").
	Figure string `json:"figure"`
	// Name says what is measured.
	Name string `json:"name"`
	// Payd is payd's value in Unit.
	Payd float64 `json:"payd"`
	// Baseline is the baseline's value in Unit (0 when there is none).
	Baseline float64 `json:"baseline,omitempty"`
	// Unit of Payd and Baseline.
	Unit string `json:"unit"`
	// Ratio is the median of per-pair payd/baseline ratios (0 when none).
	Ratio float64 `json:"ratio,omitempty"`
	// Goal is the goal as written in the issue.
	Goal string `json:"goal"`
	// Met reports whether the goal is met (nil: no goal or not measured).
	Met *bool `json:"met,omitempty"`
	// Error is set when the row could not be measured.
	Error string `json:"error,omitempty"`
}

// Figure is one numbered figure: its rows, notes and, for a missed goal,
// the profile's top entries.
type Figure struct {
	ID      string             `json:"id"`
	Title   string             `json:"title"`
	Rows    []Row              `json:"rows"`
	Notes   []string           `json:"notes,omitempty"`
	Values  map[string]float64 `json:"values,omitempty"`
	Profile []string           `json:"profile,omitempty"`
	Seconds float64            `json:"seconds"`
	Error   string             `json:"error,omitempty"`
}

func (f *Figure) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

func (f *Figure) value(k string, v float64) {
	if f.Values == nil {
		f.Values = map[string]float64{}
	}
	f.Values[k] = v
}

func met(ok bool) *bool { return &ok }

// median of xs (NaN for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile of durations (p in 0…100), nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratios returns a[i]/b[i].
func ratios(a, b []float64) []float64 {
	out := make([]float64, 0, len(a))
	for i := range a {
		if i < len(b) && b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// nsPerOp runs f repeatedly for about d and returns the median time of one
// call: on a shared machine a mean absorbs every preemption by other work,
// the median of calls a few ms long does not.
func nsPerOp(d time.Duration, f func()) float64 {
	f() // warm
	var ds []time.Duration
	start := time.Now()
	for time.Since(start) < d || len(ds) < 5 {
		t0 := time.Now()
		f()
		ds = append(ds, time.Since(t0))
	}
	return float64(percentile(ds, 50).Nanoseconds())
}
