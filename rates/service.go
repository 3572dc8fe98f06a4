package rates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// retryWindow: after a failed attempt at a pair, Rate does not start another cold
// fetch for it during this long; it fails fast and leaves retries to Run.
const retryWindow = 5 * time.Second

// maxWanted bounds the set of pairs kept warm.
const maxWanted = 1024

// Service keeps a cache of rates per pair and source, refreshed in the background by
// Run, and answers Rate from it. It is safe for concurrent use.
type Service struct {
	n       *normalized
	log     *slog.Logger
	sources map[string]Source
	now     func() time.Time

	ctx    context.Context // for cold fetches; canceled when Run returns
	cancel context.CancelFunc
	wg     sync.WaitGroup // cold fetches in flight

	mu          sync.Mutex
	entries     map[Pair]map[string]entry  // last accepted value per pair and source
	lastErr     map[Pair]map[string]string // last failure per pair and source, as reason()
	wanted      map[Pair]bool
	inflight    map[Pair]flight
	lastAttempt map[Pair]time.Time
	wantedFull  bool
}

// flight is a fetch in progress for a pair: done closes when it ends.
type flight struct {
	done    chan struct{}
	started time.Time
}

type entry struct {
	value *big.Rat
	time  time.Time
}

// New builds a Service with the built-in sources (CoinGecko, Kraken, Coinbase,
// Binance, Static) configured from cfg. log may be nil.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if _, err := cfg.normalize(knownSources); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: cfg.Timeout}
	pc := func(name string) ProviderConfig {
		for k, v := range cfg.Providers {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ProviderConfig{}
	}
	static, err := NewStatic(cfg.Static)
	if err != nil {
		return nil, err
	}
	cg, kr, cb, bn := pc(SourceCoinGecko), pc(SourceKraken), pc(SourceCoinbase), pc(SourceBinance)
	return NewWithSources(cfg, log,
		&CoinGecko{BaseURL: cg.BaseURL, Client: hc, IDs: mergeSymbols(CoinGeckoIDs, cg.Symbols)},
		&Kraken{BaseURL: kr.BaseURL, Client: hc, Assets: mergeSymbols(KrakenAssets, kr.Symbols)},
		&Coinbase{BaseURL: cb.BaseURL, Client: hc},
		&Binance{BaseURL: bn.BaseURL, Client: hc, Assets: mergeSymbols(BinanceAssets, bn.Symbols)},
		static,
	)
}

// NewWithSources builds a Service over the given sources; cfg's source lists refer to
// them by Name(). cfg.Static and cfg.Providers are ignored except for validation.
func NewWithSources(cfg Config, log *slog.Logger, sources ...Source) (*Service, error) {
	names := map[string]bool{}
	byName := map[string]Source{}
	for _, s := range sources {
		names[s.Name()] = true
		byName[s.Name()] = s
	}
	n, err := cfg.normalize(names)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		n:           n,
		log:         log.With("subsystem", "rates"),
		sources:     byName,
		now:         time.Now,
		ctx:         ctx,
		cancel:      cancel,
		entries:     map[Pair]map[string]entry{},
		lastErr:     map[Pair]map[string]string{},
		wanted:      map[Pair]bool{},
		inflight:    map[Pair]flight{},
		lastAttempt: map[Pair]time.Time{},
	}
	s.mu.Lock()
	for _, p := range n.pairs {
		_, consulted, _ := s.resolveLocked(p, s.now())
		s.wantLocked(consulted)
	}
	s.mu.Unlock()
	return s, nil
}

// Run refreshes every wanted pair now and then every RefreshInterval until ctx is
// done, then waits for fetches it started and returns nil.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		s.cancel()
		s.wg.Wait()
	}()
	t := time.NewTicker(s.n.cfg.RefreshInterval)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh fetches every wanted pair not already being fetched, synchronously.
func (s *Service) Refresh(ctx context.Context) {
	s.mu.Lock()
	var pairs []Pair
	for p := range s.wanted {
		if _, busy := s.inflight[p]; !busy {
			pairs = append(pairs, p)
			s.inflight[p] = flight{done: make(chan struct{}), started: s.now()}
		}
	}
	s.mu.Unlock()
	if len(pairs) == 0 {
		return
	}
	sortPairs(pairs)
	s.fetch(ctx, pairs)
	s.finish(pairs)
}

// Rate returns the price of one base in quote (Rate("BTC", "USD") ≈ 60000). Identity
// is 1 ("identity"); pegged coins use their peg ("peg"); otherwise the aggregate of
// the fresh cached answers for the pair, or a cross rate through Config.Cross. With
// nothing fresh cached it starts a fetch and waits at most ColdWait (and ctx), then
// returns a *NoRateError (errors.Is(err, ErrNoRate)) naming the pair and what each
// source last said. The value is rounded as Rate.String prints it.
func (s *Service) Rate(ctx context.Context, base, quote string) (Rate, error) {
	b, err := normCode(base)
	if err != nil {
		return Rate{}, err
	}
	q, err := normCode(quote)
	if err != nil {
		return Rate{}, err
	}
	p := Pair{Base: b, Quote: q}

	s.mu.Lock()
	r, consulted, ok := s.resolveLocked(p, s.now())
	s.wantLocked(consulted)
	if ok && finalize(r).Value.Sign() > 0 {
		s.mu.Unlock()
		return finalize(r), nil
	}
	waits, deadline := s.startLocked(consulted)
	s.mu.Unlock()

	if wait := deadline.Sub(s.now()); len(waits) > 0 && wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
	wait:
		for _, ch := range waits {
			select {
			case <-ch:
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, rv, ok := s.resolveFull(p, s.now())
	if ok && finalize(r).Value.Sign() > 0 {
		return finalize(r), nil
	}
	var named []Pair
	for _, c := range rv.consulted {
		if rv.primary[c] {
			named = append(named, c)
		}
	}
	return Rate{}, &NoRateError{Pair: p, Reasons: s.reasonsLocked(named)}
}

// finalize rounds r as String prints it. A value that rounds to zero (below
// 0.5e-18) is not a usable price and is treated as no rate.
func finalize(r Rate) Rate {
	r.Value = round(r.Value)
	return r
}

// wantLocked adds pairs to the set Run keeps warm.
func (s *Service) wantLocked(pairs []Pair) {
	for _, p := range pairs {
		if s.wanted[p] {
			continue
		}
		if len(s.wanted) >= maxWanted {
			if !s.wantedFull {
				s.wantedFull = true
				s.log.Warn("rates: too many pairs to keep warm", "max", maxWanted, "pair", p.String())
			}
			return
		}
		s.wanted[p] = true
	}
}

// startLocked starts a cold fetch of the pairs that are neither being fetched nor
// were tried within retryWindow, and returns the channels to wait on and until when:
// ColdWait after the oldest of those fetches started, so a caller arriving while a
// fetch is under way waits only for what is left of it.
func (s *Service) startLocked(pairs []Pair) ([]chan struct{}, time.Time) {
	var waits []chan struct{}
	var fetch []Pair
	now := s.now()
	deadline := now.Add(s.n.cfg.ColdWait)
	for _, p := range pairs {
		if f, ok := s.inflight[p]; ok {
			waits = append(waits, f.done)
			if d := f.started.Add(s.n.cfg.ColdWait); d.Before(deadline) {
				deadline = d
			}
			continue
		}
		if t, ok := s.lastAttempt[p]; ok && now.Sub(t) < retryWindow {
			continue
		}
		f := flight{done: make(chan struct{}), started: now}
		s.inflight[p] = f
		waits = append(waits, f.done)
		fetch = append(fetch, p)
	}
	if len(fetch) > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.fetch(s.ctx, fetch)
			s.finish(fetch)
		}()
	}
	return waits, deadline
}

// finish marks pairs as no longer in flight and wakes their waiters.
func (s *Service) finish(pairs []Pair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, p := range pairs {
		if f, ok := s.inflight[p]; ok {
			close(f.done)
			delete(s.inflight, p)
		}
		s.lastAttempt[p] = now
	}
}

// answer is one source's result for one pair in a fetch round.
type answer struct {
	value *big.Rat
	err   error
}

// fetch asks every source of every pair, concurrently, and ingests the answers.
func (s *Service) fetch(ctx context.Context, pairs []Pair) {
	start := s.now()
	bySource := map[string][]Pair{}
	for _, p := range pairs {
		for _, name := range s.n.order(p) {
			bySource[name] = append(bySource[name], p)
		}
	}
	var mu sync.Mutex
	answers := map[Pair]map[string]answer{}
	put := func(p Pair, name string, a answer) {
		if answers[p] == nil {
			answers[p] = map[string]answer{}
		}
		answers[p][name] = a
	}
	var wg sync.WaitGroup
	for name, ps := range bySource {
		src := s.sources[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, s.n.cfg.Timeout)
			defer cancel()
			rates, err := src.Fetch(fctx, ps)
			asked := map[Pair]bool{}
			for _, p := range ps {
				asked[p] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rates {
				p := r.Pair()
				if !asked[p] || r.Value == nil {
					continue
				}
				put(p, name, answer{value: r.Value})
			}
			var fe FetchErrors
			if errors.As(err, &fe) {
				for _, pe := range fe {
					if asked[pe.Pair] {
						put(pe.Pair, name, answer{err: pe.Err})
					}
				}
				err = nil
			}
			for _, p := range ps {
				if _, ok := answers[p][name]; ok {
					continue
				}
				e := err
				if e == nil {
					e = fmt.Errorf("%w: no answer for %s", ErrMalformed, p)
				}
				put(p, name, answer{err: e})
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: the answers are cancellations, not provider faults
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pairs {
		s.ingestLocked(p, answers[p], start)
	}
}

// ingestLocked validates one pair's answers and stores the accepted ones.
//
// A value is rejected when it is ≤ 0, or when, counting the round's other valid
// answers and the other sources' still-fresh values:
//   - with 3 or more values in all, it is more than OutlierFactor away from their
//     median (itself included, which keeps the median robust to one wild value);
//   - with exactly 2, the two disagree by more than OutlierFactor and the value is
//     also that far from this source's last accepted value (or it has none): on a
//     cold start two disagreeing sources are both refused;
//   - alone, it is more than OutlierFactor away from this source's last accepted value.
func (s *Service) ingestLocked(p Pair, round map[string]answer, at time.Time) {
	factor := s.n.cfg.OutlierFactor
	if s.entries[p] == nil {
		s.entries[p] = map[string]entry{}
	}
	if s.lastErr[p] == nil {
		s.lastErr[p] = map[string]string{}
	}
	fail := func(name string, err error) {
		s.lastErr[p][name] = reason(err)
		if errors.Is(err, ErrUnsupported) {
			s.log.Debug("rates: pair not listed by source", "source", name, "pair", p.String(), "err", err)
			return
		}
		s.log.Warn("rates: source failed", "source", name, "pair", p.String(), "reason", reason(err), "err", err)
	}
	cands := map[string]*big.Rat{}
	for name, a := range round {
		switch {
		case a.err != nil:
			fail(name, a.err)
		case a.value.Sign() <= 0:
			fail(name, fmt.Errorf("%w: %s is not positive", ErrRejected, a.value.FloatString(8)))
		default:
			cands[name] = a.value
		}
	}
	// Fresh values of sources with no candidate this round take part as references.
	var refs []*big.Rat
	for name, e := range s.entries[p] {
		if _, ok := cands[name]; !ok && at.Sub(e.time) <= s.n.cfg.MaxAge {
			refs = append(refs, e.value)
		}
	}
	all := append([]*big.Rat{}, refs...)
	for _, v := range cands {
		all = append(all, v)
	}
	var med *big.Rat
	if len(all) >= 3 {
		med = median(all)
	}
	accepted := map[string]*big.Rat{}
	for name, v := range cands {
		last, hasLast := s.entries[p][name]
		var why string
		switch {
		case len(all) >= 3:
			if outside(v, med, factor) {
				why = fmt.Sprintf("%s is over %d× away from the median %s of %d answers", formatDecimal(v), factor, formatDecimal(med), len(all))
			}
		case len(all) == 2:
			other := append([]*big.Rat{}, refs...)
			for on, ov := range cands {
				if on != name {
					other = append(other, ov)
				}
			}
			if outside(v, other[0], factor) && (!hasLast || outside(v, last.value, factor)) {
				why = fmt.Sprintf("%s is over %d× away from the other answer %s", formatDecimal(v), factor, formatDecimal(other[0]))
			}
		default:
			if hasLast && outside(v, last.value, factor) {
				why = fmt.Sprintf("%s is over %d× away from the last accepted %s", formatDecimal(v), factor, formatDecimal(last.value))
			}
		}
		if why != "" {
			fail(name, fmt.Errorf("%w: %s", ErrRejected, why))
			continue
		}
		accepted[name] = v
	}
	for name, v := range accepted {
		s.entries[p][name] = entry{value: v, time: at}
		delete(s.lastErr[p], name)
	}
}

// resolveLocked computes p from the cache. It returns the direct pairs it looked at
// (to fetch or keep warm) whether or not it succeeded.
func (s *Service) resolveLocked(p Pair, now time.Time) (Rate, []Pair, bool) {
	r, rv, ok := s.resolveFull(p, now)
	return r, rv.consulted, ok
}

func (s *Service) resolveFull(p Pair, now time.Time) (Rate, *resolver, bool) {
	rv := &resolver{s: s, now: now}
	r, ok := rv.resolve(p.Base, p.Quote, true, 0, false)
	return r, rv, ok
}

type resolver struct {
	s         *Service
	now       time.Time
	consulted []Pair        // direct pairs looked up, to fetch and keep warm
	primary   map[Pair]bool // those worth naming in a NoRateError (not inverted legs)
}

func (rv *resolver) consult(p Pair, primary bool) {
	if rv.primary == nil {
		rv.primary = map[Pair]bool{}
	}
	was, seen := rv.primary[p]
	if !seen {
		rv.consulted = append(rv.consulted, p)
	}
	rv.primary[p] = was || primary
}

// resolve finds b/q: identity, peg, peg expansion, direct (and its inverse for a
// cross leg), then a cross through Config.Cross.
func (rv *resolver) resolve(b, q string, allowCross bool, depth int, leg bool) (Rate, bool) {
	s := rv.s
	if b == q {
		return Rate{Base: b, Quote: q, Value: big.NewRat(1, 1), Source: "identity", Time: rv.now}, true
	}
	if pg, ok := s.n.pegs[b]; ok {
		pr := Rate{Base: b, Quote: pg.to, Value: new(big.Rat).Set(pg.value), Source: "peg", Time: rv.now}
		if pg.to == q {
			return pr, true
		}
		if depth == 0 {
			r, ok := rv.resolve(pg.to, q, allowCross, 1, leg)
			if !ok {
				return Rate{}, false
			}
			return compose(pr, r), true
		}
	}
	if pg, ok := s.n.pegs[q]; ok {
		pr := Rate{Base: pg.to, Quote: q, Value: new(big.Rat).Inv(pg.value), Source: "peg", Time: rv.now}
		if pg.to == b {
			return pr, true
		}
		if depth == 0 {
			r, ok := rv.resolve(b, pg.to, allowCross, 1, leg)
			if !ok {
				return Rate{}, false
			}
			return compose(r, pr), true
		}
	}
	direct := Pair{Base: b, Quote: q}
	rv.consult(direct, true)
	if r, ok := s.aggregateLocked(direct, rv.now); ok {
		return r, true
	}
	if leg {
		// A cross leg may be known the other way round: USD/BTC = 1 / BTC/USD.
		inv := Pair{Base: q, Quote: b}
		rv.consult(inv, false)
		if r, ok := s.aggregateLocked(inv, rv.now); ok {
			return invert(r), true
		}
	}
	x := s.n.cross
	if !allowCross || b == x || q == x {
		return Rate{}, false
	}
	r1, ok1 := rv.resolve(b, x, false, depth, true)
	r2, ok2 := rv.resolve(x, q, false, depth, true)
	if !ok1 || !ok2 {
		return Rate{}, false
	}
	return compose(r1, r2), true
}

// aggregateLocked applies the strategy to p's fresh accepted values.
func (s *Service) aggregateLocked(p Pair, now time.Time) (Rate, bool) {
	es := s.entries[p]
	var names []string
	var vals []*big.Rat
	var oldest time.Time
	for _, name := range s.n.order(p) {
		e, ok := es[name]
		if !ok || now.Sub(e.time) > s.n.cfg.MaxAge {
			continue
		}
		names = append(names, name)
		vals = append(vals, e.value)
		if oldest.IsZero() || e.time.Before(oldest) {
			oldest = e.time
		}
		if s.n.cfg.Strategy == StrategyFirst {
			break
		}
	}
	switch len(names) {
	case 0:
		return Rate{}, false
	case 1:
		return Rate{Base: p.Base, Quote: p.Quote, Value: new(big.Rat).Set(vals[0]), Source: names[0], Time: oldest}, true
	}
	return Rate{Base: p.Base, Quote: p.Quote, Value: median(vals), Source: "median(" + strings.Join(names, ",") + ")", Time: oldest}, true
}

// reasonsLocked says, per consulted pair, what its sources last did, grouped by
// reason: "BTC/IDR: http 500 (coingecko, kraken), unsupported pair (binance)".
func (s *Service) reasonsLocked(consulted []Pair) []string {
	now := s.now()
	var out []string
	for _, p := range consulted {
		var parts, whys []string
		groups := map[string][]string{}
		for _, name := range s.n.order(p) {
			why, ok := s.lastErr[p][name]
			if !ok {
				if e, has := s.entries[p][name]; has {
					why = "stale since " + e.time.UTC().Format(time.RFC3339)
					if now.Sub(e.time) <= s.n.cfg.MaxAge {
						why = "ok"
					}
				} else if _, busy := s.inflight[p]; busy {
					why = "no answer yet"
				} else {
					why = "no answer"
				}
			}
			if _, ok := groups[why]; !ok {
				whys = append(whys, why)
			}
			groups[why] = append(groups[why], name)
		}
		for _, why := range whys {
			parts = append(parts, why+" ("+strings.Join(groups[why], ", ")+")")
		}
		prefix := p.String() + ": "
		if len(consulted) == 1 {
			prefix = "sources: "
		}
		out = append(out, prefix+strings.Join(parts, ", "))
	}
	return out
}

func sortPairs(ps []Pair) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
}
