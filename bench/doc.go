// Command bench is payd's benchmark harness, run by `make bench`
// (`go run ./bench`). It measures each figure of the benchmark issue against
// a raw baseline measured in the same run, interleaved A/B/A/B (at least 3
// pairs, median ratio reported), and writes docs/benchmarks.md (the table
// plus notes) and bench/results.json.
//
// Figures that need the daemon drive the real `payd` binary (built into a
// temporary directory) against real local nodes started through
// internal/testnode, so they measure what a merchant runs. The scan figures
// call the exported per-block hot paths of chain/bitcoin and chain/evm.
//
// Profiles: when a goal is missed, the figure captures a CPU profile (and
// for figure 6 a heap profile) of the payd side and puts the top of
// `go tool pprof -top` in its section; findings.go holds the reading of
// those profiles (finding and fix) shown under "Missed goals". In-process
// figures (2, 3) profile the bench itself. Daemon figures (1, 1-pg, 5, 6) start a
// second build of cmd/payd made with `go build -overlay` adding one file
// that serves net/http/pprof on $PAYD_BENCH_PPROF: nothing in the tree
// changes, the production binary has no pprof, and every number in the
// table is measured with the plain binary. -profile forces the profiles.
//
// Figure 1-pg runs figure 1 on PostgreSQL (a private cluster started
// through internal/testnode, fsync on): one payd, then two on the same
// database behind a loopback TCP round-robin, against raw PostgreSQL
// inserts on the same cluster; it counts the statements payd sends per
// invoice (pg_stat_statements) and samples what the backends wait on.
//
// It is a program, not a test: nothing here can fail `make test`. A figure
// that cannot be measured is reported as such in the table and the others
// still run. It may import anything of payd's; nothing imports it.
package main
