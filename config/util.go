package config

import (
	"math/big"
	"sort"
)

func bigInt(v int64) *big.Int { return big.NewInt(v) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
