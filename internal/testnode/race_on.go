//go:build race

package testnode

// RaceBuild reports whether PaydBin builds payd with the race detector: it
// does when the test binary has it (`go test -race`).
const RaceBuild = true
