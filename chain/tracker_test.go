package chain

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// fakeSource is a node's best chain (index = height) plus the other blocks
// it knows (stale or invalidated branches).
type fakeSource struct {
	best    []BlockRef
	known   map[string]bool
	err     error      // returned by KnowsBlock
	catchUp []BlockRef // best chain from KnowsBlock on
	asked   int        // KnowsBlock calls
}

func (f *fakeSource) TipHeight(context.Context) (uint64, error) { return uint64(len(f.best) - 1), nil }

func (f *fakeSource) HeaderByHeight(_ context.Context, h uint64) (BlockRef, error) {
	if h >= uint64(len(f.best)) {
		return BlockRef{}, fmt.Errorf("no block at %d", h)
	}
	return f.best[h], nil
}

// knowing wraps a fakeSource as a BlockKnower.
type knowing struct{ *fakeSource }

func (k knowing) KnowsBlock(_ context.Context, hash string) (bool, error) {
	k.asked++
	if k.err != nil {
		return false, k.err
	}
	if k.catchUp != nil { // the node caught up since TipHeight answered
		k.best, k.catchUp = k.catchUp, nil
	}
	for _, b := range k.best {
		if b.Hash == hash {
			return true, nil
		}
	}
	return k.known[hash], nil
}

// branch builds blocks from..to on parent, hashes prefixed with tag.
func branch(tag string, parent string, from, to uint64) []BlockRef {
	var bs []BlockRef
	for h := from; h <= to; h++ {
		b := BlockRef{Height: h, Hash: fmt.Sprintf("%s%d", tag, h), Parent: parent}
		bs = append(bs, b)
		parent = b.Hash
	}
	return bs
}

func TestTrackerNext(t *testing.T) {
	main := branch("m", "", 0, 10) // m0..m10
	alt := append(append([]BlockRef(nil), main[:8]...), branch("a", "m7", 8, 9)...)
	ours := main[5:11] // tracked m5..m10
	errNode := errors.New("node down")
	tests := []struct {
		name    string
		src     HeaderSource
		want    Step
		wantErr error
		asked   int // KnowsBlock calls, -1: not a BlockKnower
	}{
		{"in sync", knowing{&fakeSource{best: main}}, Step{Kind: StepNone}, nil, 0},
		{"node ahead", knowing{&fakeSource{best: append(main[:11:11], branch("m", "m10", 11, 12)...)}},
			Step{Kind: StepConnect, Block: BlockRef{Height: 11, Hash: "m11", Parent: "m10"}}, nil, 0},
		{"same height reorg", knowing{&fakeSource{best: append(main[:10:10], BlockRef{Height: 10, Hash: "x10", Parent: "m9"})}},
			Step{Kind: StepDisconnect, Block: main[10]}, nil, 0},
		{"behind: node never saw our tip", knowing{&fakeSource{best: main[:8]}},
			Step{Kind: StepNone}, nil, 1},
		{"behind below the window", knowing{&fakeSource{best: main[:3]}},
			Step{Kind: StepNone}, nil, 1},
		{"shorter reorg: our tip is on a stale branch the node knows", knowing{&fakeSource{best: alt, known: map[string]bool{"m8": true, "m9": true, "m10": true}}},
			Step{Kind: StepDisconnect, Block: main[10]}, nil, 1},
		{"shorter chain: tip invalidated, node still knows it", knowing{&fakeSource{best: main[:10], known: map[string]bool{"m10": true}}},
			Step{Kind: StepDisconnect, Block: main[10]}, nil, 1},
		{"cannot tell: not a BlockKnower", &fakeSource{best: main[:8]},
			Step{Kind: StepDisconnect, Block: main[10]}, nil, -1},
		{"node catches up while asked", knowing{&fakeSource{best: main[:8], catchUp: main}},
			Step{Kind: StepNone}, nil, 1},
		{"KnowsBlock fails", knowing{&fakeSource{best: main[:8], err: errNode}},
			Step{}, errNode, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(ours, 10)
			got, err := tr.Next(context.Background(), tt.src)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("step = %+v, want %+v", got, tt.want)
			}
			if k, ok := tt.src.(knowing); ok && k.asked != tt.asked {
				t.Fatalf("KnowsBlock called %d times, want %d", k.asked, tt.asked)
			}
			if tip, _ := tr.Tip(); tip != main[10] {
				t.Fatalf("Next moved the tip to %s", tip)
			}
		})
	}
}

// A node that falls behind and catches up never makes the Tracker disconnect;
// a shorter best chain it knows our blocks off is walked down to the fork.
func TestTrackerBehindThenCatchUp(t *testing.T) {
	main := branch("m", "", 0, 12)
	tr := NewTracker(main[5:11], 10)
	src := &fakeSource{best: main[:7]} // restarted from an old state
	ctx := context.Background()
	for _, n := range []int{7, 9, 11, 12, 13} {
		src.best = main[:n]
		for {
			st, err := tr.Next(ctx, knowing{src})
			if err != nil {
				t.Fatal(err)
			}
			if st.Kind == StepDisconnect {
				t.Fatalf("node at %d: disconnect %s", n-1, st.Block)
			}
			if st.Kind == StepNone {
				break
			}
			if err := tr.Connect(st.Block); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tip, _ := tr.Tip(); tip != main[12] {
		t.Fatalf("tip %s, want %s", tip, main[12])
	}

	// Now a real reorg to a shorter chain forking below m10.
	alt := append(append([]BlockRef(nil), main[:10]...), BlockRef{Height: 10, Hash: "a10", Parent: "m9"})
	known := map[string]bool{"m10": true, "m11": true, "m12": true}
	src2 := &fakeSource{best: alt, known: known}
	var got []string
	for i := 0; i < 10; i++ {
		st, err := tr.Next(ctx, knowing{src2})
		if err != nil {
			t.Fatal(err)
		}
		if st.Kind == StepNone {
			break
		}
		got = append(got, fmt.Sprintf("%d:%s", st.Kind, st.Block.Hash))
		if st.Kind == StepDisconnect {
			if _, err := tr.Disconnect(); err != nil {
				t.Fatal(err)
			}
		} else if err := tr.Connect(st.Block); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprint([]string{"2:m12", "2:m11", "2:m10", "1:a10"})
	if fmt.Sprint(got) != want {
		t.Fatalf("steps %v, want %v", got, want)
	}
}
