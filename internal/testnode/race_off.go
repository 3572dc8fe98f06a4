//go:build !race

package testnode

// RaceBuild reports whether PaydBin builds payd with the race detector: it
// does when the test binary has it (`go test -race`). Without -race the
// payd under test is a plain build, as the soak needs to measure memory.
const RaceBuild = false
