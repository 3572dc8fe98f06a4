package chain

import (
	"context"
	"errors"
	"fmt"
)

// ErrDeepReorg is returned when the node's best chain forked below the oldest
// block the Tracker remembers: payd cannot tell what to disconnect.
var ErrDeepReorg = errors.New("chain: reorg deeper than the tracked window")

// HeaderSource is what a Tracker asks of a node.
type HeaderSource interface {
	// TipHeight returns the best chain's height.
	TipHeight(ctx context.Context) (uint64, error)
	// HeaderByHeight returns the best chain's block at height h.
	HeaderByHeight(ctx context.Context, h uint64) (BlockRef, error)
}

// BlockKnower is an optional interface of a HeaderSource: it tells a node
// that is behind (it has not got payd's tip yet) from a best chain that got
// shorter (payd's tip was reorged or invalidated away). A node behind a load
// balancer, or one restarted from an older state, reports a lower tip than
// payd's without anything having been reorged.
type BlockKnower interface {
	// KnowsBlock reports whether the node has the block with this hash, on
	// its best chain or not. A node that has only the header (still
	// downloading the block) does not know it.
	KnowsBlock(ctx context.Context, hash string) (bool, error)
}

// StepKind is what a Tracker says to do next.
type StepKind uint8

// Step kinds.
const (
	// StepNone: the tracked tip is the node's tip, or the node is behind it
	// (it does not know the tracked tip yet): nothing to do until it catches up.
	StepNone StepKind = iota
	// StepConnect: connect Step.Block on top of the tracked tip.
	StepConnect
	// StepDisconnect: Step.Block (the tracked tip) left the best chain.
	StepDisconnect
)

// Step is one move from the tracked chain towards the node's best chain.
type Step struct {
	Kind  StepKind
	Block BlockRef
}

// Tracker is the pure fork-point logic shared by every backend: it remembers the
// last Depth blocks payd processed and, one step at a time, walks them to the
// node's best chain by comparing parent hashes — never by height alone.
//
// A Tracker is not safe for concurrent use; one chain loop owns it.
type Tracker struct {
	blocks []BlockRef // oldest first, contiguous by parent hash
	depth  int
}

// NewTracker starts from recent (oldest first) and keeps at most depth blocks.
func NewTracker(recent []BlockRef, depth int) *Tracker {
	if depth < 2 {
		depth = 2
	}
	t := &Tracker{depth: depth}
	t.blocks = append(t.blocks, recent...)
	t.trim()
	return t
}

// Tip returns the tracked tip; ok is false when nothing is tracked yet.
func (t *Tracker) Tip() (BlockRef, bool) {
	if len(t.blocks) == 0 {
		return BlockRef{}, false
	}
	return t.blocks[len(t.blocks)-1], true
}

// Blocks returns a copy of the tracked window, oldest first.
func (t *Tracker) Blocks() []BlockRef { return append([]BlockRef(nil), t.blocks...) }

// Connect appends b, which must build on the tracked tip.
func (t *Tracker) Connect(b BlockRef) error {
	if tip, ok := t.Tip(); ok && (b.Parent != tip.Hash || b.Height != tip.Height+1) {
		return fmt.Errorf("chain: block %s does not build on tip %s", b, tip)
	}
	t.blocks = append(t.blocks, b)
	t.trim()
	return nil
}

// Disconnect removes the tracked tip and returns it.
func (t *Tracker) Disconnect() (BlockRef, error) {
	if len(t.blocks) == 0 {
		return BlockRef{}, ErrDeepReorg
	}
	b := t.blocks[len(t.blocks)-1]
	t.blocks = t.blocks[:len(t.blocks)-1]
	return b, nil
}

func (t *Tracker) trim() {
	if n := len(t.blocks) - t.depth; n > 0 {
		t.blocks = append([]BlockRef(nil), t.blocks[n:]...)
	}
}

// Next computes the next step towards the node's best chain without applying
// it: the caller handles the step (durably) and then calls Connect or
// Disconnect. With nothing tracked, the first step connects the node's tip.
// When the node's tip is lower than the tracked tip and src is a BlockKnower
// that does not know the tracked tip, the node is behind, not reorged: Next
// returns StepNone, and the caller should report the node as lagging.
func (t *Tracker) Next(ctx context.Context, src HeaderSource) (Step, error) {
	tipH, err := src.TipHeight(ctx)
	if err != nil {
		return Step{}, fmt.Errorf("tip height: %w", err)
	}
	local, ok := t.Tip()
	if !ok {
		b, err := src.HeaderByHeight(ctx, tipH)
		if err != nil {
			return Step{}, fmt.Errorf("header %d: %w", tipH, err)
		}
		return Step{Kind: StepConnect, Block: b}, nil
	}
	if tipH < local.Height {
		// The node's best chain is shorter than ours. If the node has never
		// seen our tip it is merely behind: wait for it. If it has (a stale
		// or invalidated branch), or cannot say, our tip left its best chain.
		if k, ok := src.(BlockKnower); ok {
			known, err := k.KnowsBlock(ctx, local.Hash)
			if err != nil {
				return Step{}, fmt.Errorf("block %s: %w", local, err)
			}
			if !known {
				return Step{Kind: StepNone}, nil
			}
			// It may have just caught up: disconnect only if its best
			// chain is still shorter now that it knows our tip.
			if tipH, err = src.TipHeight(ctx); err != nil {
				return Step{}, fmt.Errorf("tip height: %w", err)
			}
			if tipH >= local.Height {
				return Step{Kind: StepNone}, nil // the next call compares hashes
			}
		}
		return t.disconnectStep(local)
	}
	// Is our tip still on the best chain?
	same, err := src.HeaderByHeight(ctx, local.Height)
	if err != nil {
		return Step{}, fmt.Errorf("header %d: %w", local.Height, err)
	}
	if same.Hash != local.Hash {
		return t.disconnectStep(local)
	}
	if tipH == local.Height {
		return Step{Kind: StepNone}, nil
	}
	next, err := src.HeaderByHeight(ctx, local.Height+1)
	if err != nil {
		return Step{}, fmt.Errorf("header %d: %w", local.Height+1, err)
	}
	if next.Parent != local.Hash {
		// The chain changed between the two calls; the next call sorts it out.
		return Step{Kind: StepNone}, nil
	}
	return Step{Kind: StepConnect, Block: next}, nil
}

func (t *Tracker) disconnectStep(local BlockRef) (Step, error) {
	if len(t.blocks) <= 1 {
		return Step{}, fmt.Errorf("%w: would disconnect %s, the oldest tracked block", ErrDeepReorg, local)
	}
	return Step{Kind: StepDisconnect, Block: local}, nil
}
