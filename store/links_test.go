package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLinkLifecycle(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	l := Link{ID: "lnk_a", Amount: "25.00", Currency: "USD", Methods: []string{"bitcoin/btc", "ethereum/usdc"},
		Description: "T-shirt", Metadata: json.RawMessage(`{"sku":"T1"}`), MaxUses: 2, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	if err := db.CreateLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateLink(ctx, l); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
	got, err := db.Link(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Amount != "25.00" || got.Currency != "USD" || len(got.Methods) != 2 || got.Methods[1] != "ethereum/usdc" ||
		string(got.Metadata) != `{"sku":"T1"}` || got.MaxUses != 2 || got.Uses != 0 || !got.ExpiresAt.Equal(l.ExpiresAt) ||
		!got.CreatedAt.Equal(now) || !got.DeletedAt.IsZero() || !got.Usable(now) {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := db.Link(ctx, "lnk_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}

	steps := []struct {
		name    string
		id      string
		at      time.Time
		release bool
		want    error
		uses    int64
	}{
		{name: "first use", id: l.ID, at: now, uses: 1},
		{name: "second use", id: l.ID, at: now, uses: 2},
		{name: "used up", id: l.ID, at: now, want: ErrGone},
		{name: "released use is available again", id: l.ID, at: now, release: true, uses: 2},
		{name: "unknown", id: "lnk_nope", at: now, want: ErrNotFound},
	}
	for _, s := range steps {
		if s.release {
			if err := db.ReleaseLinkUse(ctx, s.id); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.UseLink(ctx, s.id, s.at)
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: err %v, want %v", s.name, err, s.want)
		}
		if err == nil && got.Uses != s.uses {
			t.Fatalf("%s: uses %d, want %d", s.name, got.Uses, s.uses)
		}
	}
}

func TestUseLinkGone(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	for _, l := range []Link{
		{ID: "lnk_exp", Amount: "1", Currency: "BTC", ExpiresAt: now.Add(time.Minute), CreatedAt: now},
		{ID: "lnk_del", Amount: "1", Currency: "BTC", CreatedAt: now},
	} {
		if err := db.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.UseLink(ctx, "lnk_exp", now.Add(59*time.Second)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if _, err := db.UseLink(ctx, "lnk_exp", now.Add(time.Minute)); !errors.Is(err, ErrGone) {
		t.Fatalf("at expiry: %v", err)
	}
	if err := db.DeleteLink(ctx, "lnk_del", now); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteLink(ctx, "lnk_del", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := db.UseLink(ctx, "lnk_del", now); !errors.Is(err, ErrGone) {
		t.Fatalf("deleted: %v", err)
	}
	l, err := db.Link(ctx, "lnk_del")
	if err != nil || l.DeletedAt.IsZero() || l.Usable(now) {
		t.Fatalf("deleted link: %+v %v", l, err)
	}
}

// TestUseLinkConcurrent: concurrent visits never exceed max_uses.
func TestUseLinkConcurrent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	if err := db.CreateLink(ctx, Link{ID: "lnk_c", Amount: "1", Currency: "BTC", MaxUses: 5, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var ok, gone atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.UseLink(ctx, "lnk_c", now)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrGone):
				gone.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || gone.Load() != 15 {
		t.Fatalf("ok %d gone %d, want 5 and 15", ok.Load(), gone.Load())
	}
}
