package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

func TestChunks(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {2, []int{2}}, {3, []int{2, 1}}, {37, []int{32, 4, 1}},
		{64, []int{64}}, {65, []int{64, 1}}, {256, []int{64, 64, 64, 64}}, {127, []int{64, 32, 16, 8, 4, 2, 1}},
	}
	for _, tt := range tests {
		got := chunks(tt.n)
		if !slices.Equal(got, tt.want) {
			t.Errorf("chunks(%d) = %v, want %v", tt.n, got, tt.want)
		}
		sum := 0
		for _, c := range got {
			sum += c
		}
		if sum != tt.n {
			t.Errorf("chunks(%d) sums to %d", tt.n, sum)
		}
	}
}

// TestBulkInsertMatchesOneByOne writes batches of several sizes with
// InsertNewInvoices + InsertEventsBulk and reads every invoice and event
// back: the same as InsertInvoice/InsertEvents would store, events in order
// with the seq each was given.
func TestBulkInsertMatchesOneByOne(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Now().UTC().Truncate(time.Second)
	k := 0
	for _, n := range []int{1, 3, 37, 70} {
		var invs []*invoice.Invoice
		var evs []invoice.Event
		for i := 0; i < n; i++ {
			k++
			inv := testInvoice(fmt.Sprintf("inv_%04d", k), now, fmt.Sprintf("0x%04d", k))
			inv.Methods[0].DeriveIdx, inv.Methods[1].DeriveIdx = uint32(k), uint32(k)
			ev, err := invoice.NewEvent(invoice.EventCreated, inv, now, invoice.ViewOptions{})
			if err != nil {
				t.Fatal(err)
			}
			invs, evs = append(invs, inv), append(evs, ev)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			if err := tx.InsertNewInvoices(ctx, invs); err != nil {
				return err
			}
			return tx.InsertEventsBulk(ctx, evs)
		}); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		for i, want := range invs {
			got, err := db.Invoice(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Methods[1].Address != want.Methods[1].Address || got.Methods[1].AmountDue.Cmp(want.Methods[1].AmountDue) != 0 ||
				got.OrderID != want.OrderID || string(got.Metadata) != string(want.Metadata) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Fatalf("invoice %s read back as %+v", want.ID, got)
			}
			stored, err := db.Event(ctx, evs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Seq != evs[i].Seq || stored.InvoiceID != want.ID || string(stored.Payload) != string(evs[i].Payload) {
				t.Fatalf("event %d of the batch: stored seq %d, set %d", i, stored.Seq, evs[i].Seq)
			}
		}
	}
	all, err := db.EventsAfter(ctx, 0, 1000)
	if err != nil || len(all) != k {
		t.Fatalf("%d events, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}

	// An address already handed out fails the whole batch with ErrConflict
	// and stores nothing of it.
	dup := testInvoice("inv_dup", now, "0x0001")
	fresh := testInvoice("inv_fresh", now, "0x9999")
	fresh.Methods[0].DeriveIdx, fresh.Methods[1].DeriveIdx = 9999, 9999
	err = db.Write(ctx, func(tx *Tx) error { return tx.InsertNewInvoices(ctx, []*invoice.Invoice{fresh, dup}) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate address: %v, want ErrConflict", err)
	}
	if ok, _ := db.InvoiceExists(ctx, "inv_fresh"); ok {
		t.Fatal("a failed batch left an invoice behind")
	}
}

func TestAdvanceIndexNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	for _, step := range []struct{ set, want uint32 }{{5, 5}, {3, 5}, {9, 9}, {9, 9}} {
		if err := db.Write(ctx, func(tx *Tx) error { return tx.AdvanceIndex(ctx, "bitcoin", step.set) }); err != nil {
			t.Fatal(err)
		}
		if got, err := db.PeekIndex(ctx, "bitcoin"); err != nil || got != step.want {
			t.Fatalf("after AdvanceIndex(%d): %d, %v; want %d", step.set, got, err, step.want)
		}
	}
}
