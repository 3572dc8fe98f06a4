package rates

import (
	"context"
	"fmt"
	"math/big"
	"time"
)

// Static serves a fixed table from config ("BTC/USD": "60000.00"). A pair in the table
// also answers its inverse. Its values are always "fresh": use it as the last entry
// of a "first" list, or for fiat/fiat pairs no provider covers (USD/IDR), knowing
// they will drift from the market until the table is edited.
type Static struct {
	table map[Pair]*big.Rat
}

// NewStatic builds the source from a "BASE/QUOTE" → decimal table.
func NewStatic(table map[string]string) (*Static, error) {
	s := &Static{table: map[Pair]*big.Rat{}}
	for k, v := range table {
		p, err := ParsePair(k)
		if err != nil {
			return nil, fmt.Errorf("static rates: %w", err)
		}
		r, err := parseDecimal(v)
		if err != nil || r.Sign() <= 0 {
			return nil, fmt.Errorf("static rate %s = %q: want a positive decimal", p, v)
		}
		s.table[p] = r
	}
	return s, nil
}

// Name returns "static".
func (s *Static) Name() string { return SourceStatic }

// Fetch implements Source.
func (s *Static) Fetch(_ context.Context, pairs []Pair) ([]Rate, error) {
	now := time.Now()
	var out []Rate
	var errs FetchErrors
	for _, p := range pairs {
		if v, ok := s.table[p]; ok {
			out = append(out, Rate{Base: p.Base, Quote: p.Quote, Value: new(big.Rat).Set(v), Source: s.Name(), Time: now})
			continue
		}
		if v, ok := s.table[Pair{Base: p.Quote, Quote: p.Base}]; ok {
			out = append(out, Rate{Base: p.Base, Quote: p.Quote, Value: new(big.Rat).Inv(v), Source: s.Name(), Time: now})
			continue
		}
		errs = append(errs, PairError{Pair: p, Err: fmt.Errorf("%w: %s not in the static table", ErrUnsupported, p)})
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}
