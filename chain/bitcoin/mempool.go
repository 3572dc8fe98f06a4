package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain"
)

// mempoolState is what the poller remembers between polls. Only Run's
// goroutine touches it.
type mempoolState struct {
	// seen holds the txids of the previous getrawmempool that were handled.
	// A tx that leaves the mempool (mined) and comes back (reorg) is new
	// again and reported again.
	seen map[chainhash.Hash]struct{}
	// spentBy maps the inputs of reported transactions to their txid.
	spentBy map[wire.OutPoint]chainhash.Hash
	// inputs is the reverse of spentBy, with when the tx was reported.
	inputs map[chainhash.Hash]reported
	polls  int
}

type reported struct {
	ins  []wire.OutPoint
	seen time.Time
}

func newMempoolState() *mempoolState {
	return &mempoolState{
		seen:    make(map[chainhash.Hash]struct{}),
		spentBy: make(map[wire.OutPoint]chainhash.Hash),
		inputs:  make(map[chainhash.Hash]reported),
	}
}

func (m *mempoolState) remember(txid chainhash.Hash, tx *wire.MsgTx, now time.Time) {
	if _, ok := m.inputs[txid]; ok {
		return
	}
	rep := reported{seen: now}
	for _, in := range tx.TxIn {
		m.spentBy[in.PreviousOutPoint] = txid
		rep.ins = append(rep.ins, in.PreviousOutPoint)
	}
	m.inputs[txid] = rep
}

func (m *mempoolState) forget(txid chainhash.Hash) {
	for _, op := range m.inputs[txid].ins {
		if m.spentBy[op] == txid {
			delete(m.spentBy, op)
		}
	}
	delete(m.inputs, txid)
}

func (m *mempoolState) expire(now time.Time) {
	for id, rep := range m.inputs {
		if now.Sub(rep.seen) > spendTTL {
			m.forget(id)
		}
	}
}

// pollMempool diffs getrawmempool against the previous poll, fetches the
// new transactions raw and reports outputs paying watched scripts. A new
// transaction spending an input of a reported one is reported as TxReplaced
// (the node accepted a BIP125 replacement).
func (r *runner) pollMempool(ctx context.Context) error {
	var ids []string
	if err := r.b.rpc.callInto(ctx, &ids, "getrawmempool"); err != nil {
		return err
	}
	m := r.mem
	now := time.Now()
	if m.polls++; m.polls%3600 == 0 {
		m.expire(now)
	}
	next := make(map[chainhash.Hash]struct{}, len(ids))
	var transfers []chain.Transfer
	fetched := 0
	var body bytes.Buffer
	var raw []byte
	for _, s := range ids {
		var id chainhash.Hash
		if len(s) != 2*chainhash.HashSize || chainhash.Decode(&id, s) != nil {
			return fmt.Errorf("getrawmempool: %w: txid %q", ErrMalformed, s)
		}
		if _, ok := m.seen[id]; ok {
			next[id] = struct{}{}
			continue
		}
		if fetched >= maxMempoolFetch {
			continue // next poll
		}
		fetched++
		tx, err := r.b.rawTx(ctx, &body, &raw, s)
		var re *RPCError
		if errors.As(err, &re) && re.Code == codeNoTx {
			continue // left the mempool meanwhile
		}
		if err != nil {
			return err
		}
		if got := tx.TxHash(); got != id {
			return fmt.Errorf("getrawtransaction %s: %w: tx hashes to %s", s, ErrMalformed, got)
		}
		next[id] = struct{}{}
		for _, in := range tx.TxIn {
			orig, ok := m.spentBy[in.PreviousOutPoint]
			if !ok || orig == id {
				continue
			}
			if err := r.send(ctx, chain.Event{Type: chain.TxReplaced, TxID: orig.String(), ReplacedBy: s}); err != nil {
				return err
			}
			r.b.log.Info("transaction replaced in mempool", "txid", orig, "replaced_by", s)
			m.forget(orig)
		}
		outs := scanTx(tx, id, r.b.watch)
		if len(outs) > 0 {
			m.remember(id, tx, now)
			transfers = append(transfers, r.b.transfers(outs, nil)...)
		}
	}
	m.seen = next
	if len(transfers) == 0 {
		return nil
	}
	r.b.log.Debug("mempool transfers", "count", len(transfers))
	return r.send(ctx, chain.Event{Type: chain.MempoolTransfers, Transfers: transfers})
}

// rawTx fetches and decodes one transaction (getrawtransaction <txid> 0).
func (b *Backend) rawTx(ctx context.Context, body *bytes.Buffer, raw *[]byte, txid string) (*wire.MsgTx, error) {
	if err := b.rpc.callBody(ctx, body, "getrawtransaction", txid, 0); err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: %w", txid, err)
	}
	h, err := hexResult(body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: %w", txid, err)
	}
	if err := decodeHexInto(raw, h); err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: %w", txid, err)
	}
	tx := new(wire.MsgTx)
	rd := bytes.NewReader(*raw)
	if err := tx.Deserialize(rd); err != nil || rd.Len() != 0 {
		return nil, fmt.Errorf("getrawtransaction %s: %w: decode tx: %v (%d trailing bytes)", txid, ErrMalformed, err, rd.Len())
	}
	return tx, nil
}
