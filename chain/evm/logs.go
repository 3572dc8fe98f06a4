package evm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/payd/payd/chain"
)

// logCache holds the token logs of a block range fetched in one eth_getLogs
// while catching up, by block hash. A block's logs are fixed by its hash, so a
// hit is right whatever happened to the chain since; a miss falls back to a
// per-block query.
type logCache struct {
	from, to uint64
	byHash   map[hash32][]leanLog
}

func (c *logCache) reset() { *c = logCache{} }

func (c *logCache) covers(h uint64) bool { return c.byHash != nil && c.from <= h && h <= c.to }

func (c *logCache) get(h uint64, hash hash32) ([]leanLog, bool) {
	if !c.covers(h) {
		return nil, false
	}
	logs, ok := c.byHash[hash]
	return logs, ok
}

func (c *logCache) fill(from, to uint64, logs []leanLog) {
	c.from, c.to, c.byHash = from, to, make(map[hash32][]leanLog)
	for _, l := range logs {
		c.byHash[l.BlockHash] = append(c.byHash[l.BlockHash], l)
	}
}

// logFilter is an eth_getLogs filter for the configured tokens' Transfer logs.
type logFilter struct {
	BlockHash string     `json:"blockHash,omitempty"`
	FromBlock string     `json:"fromBlock,omitempty"`
	ToBlock   string     `json:"toBlock,omitempty"`
	Address   []string   `json:"address"`
	Topics    [][]string `json:"topics"`
}

func (b *Backend) filter() logFilter {
	return logFilter{Address: b.tokens, Topics: [][]string{{transferTopic.Hex()}}}
}

// blockLogs returns the configured tokens' Transfer logs of blk.
func (b *Backend) blockLogs(ctx context.Context, blk *leanBlock, ref chain.BlockRef, tip uint64) ([]leanLog, error) {
	if !b.mayHaveTokenLogs(blk.LogsBloom) {
		return nil, nil
	}
	hash := *blk.Hash
	if logs, ok := b.cache.get(ref.Height, hash); ok {
		return logs, nil
	}
	if tip > ref.Height+1 && !b.cache.covers(ref.Height) {
		to := min(ref.Height+b.logRange.Load()-1, tip)
		b.log.Debug("fetching logs by range", "from", ref.Height, "to", to)
		logs, err := b.logsRange(ctx, ref.Height, to)
		if err != nil {
			b.log.Warn("range log query failed, asking per block", "from", ref.Height, "to", to, "err", err)
		} else {
			b.cache.fill(ref.Height, to, logs)
			if logs, ok := b.cache.get(ref.Height, hash); ok {
				return logs, nil
			}
		}
	}
	f := b.filter()
	f.BlockHash = ref.Hash
	body, err := b.rpc.callRaw(ctx, "eth_getLogs", f)
	if err != nil {
		return nil, err
	}
	logs, err := decodeLogs(body)
	if err != nil {
		return nil, fmt.Errorf("eth_getLogs block %s: %w", ref.Hash, err)
	}
	for _, l := range logs {
		if l.BlockHash != hash {
			return nil, fmt.Errorf("eth_getLogs for block %s returned a log of block %s", ref.Hash, l.BlockHash)
		}
	}
	return logs, nil
}

// logsRange returns the configured tokens' Transfer logs of blocks from..to.
// A range the node refuses (a JSON-RPC error, or HTTP 413) is split in two
// and the halves asked for in turn, down to single blocks; the smaller range
// is remembered for later calls.
func (b *Backend) logsRange(ctx context.Context, from, to uint64) ([]leanLog, error) {
	f := b.filter()
	f.FromBlock, f.ToBlock = fmt.Sprintf("0x%x", from), fmt.Sprintf("0x%x", to)
	body, err := b.rpc.callRaw(ctx, "eth_getLogs", f)
	var logs []leanLog
	if err == nil {
		logs, err = decodeLogs(body)
		if err == nil {
			for _, l := range logs {
				if uint64(l.BlockNumber) < from || uint64(l.BlockNumber) > to {
					return nil, fmt.Errorf("eth_getLogs %d..%d returned a log of block %d", from, to, l.BlockNumber)
				}
			}
			return logs, nil
		}
	}
	if to == from || !refused(err) {
		return nil, fmt.Errorf("eth_getLogs %d..%d: %w", from, to, err)
	}
	half := (to - from + 1) / 2
	if half < b.logRange.Load() {
		b.logRange.Store(max(half, 1))
		b.log.Info("node refused a log range, using smaller ranges", "range", to-from+1, "now", max(half, 1), "err", err)
	}
	mid := from + half - 1
	left, err := b.logsRange(ctx, from, mid)
	if err != nil {
		return nil, err
	}
	right, err := b.logsRange(ctx, mid+1, to)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// refused tells whether err looks like a node refusing a query as too large.
func refused(err error) bool {
	var re *RPCError
	if errors.As(err, &re) {
		return true
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusRequestEntityTooLarge ||
			(he.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(he.Body), "range"))
	}
	return false
}
