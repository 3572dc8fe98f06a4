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
// It is a program, not a test: nothing here can fail `make test`. A figure
// that cannot be measured is reported as such in the table and the others
// still run. It may import anything of payd's; nothing imports it.
package main
