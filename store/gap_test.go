package store

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// gapInvoice is a one-method bitcoin invoice on address index idx, with one
// payment of each given status.
func gapInvoice(chainName string, idx uint32, now time.Time, paid ...invoice.PaymentStatus) *invoice.Invoice {
	id := fmt.Sprintf("inv_%s_%d", chainName, idx)
	addr := fmt.Sprintf("bcrt1q%s%04d", chainName, idx)
	inv := &invoice.Invoice{
		ID: id, Status: invoice.StatusNew, Amount: big.NewInt(1000), Currency: invoice.Asset{Code: "BTC", Decimals: 8},
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute), MonitorUntil: now.Add(24 * time.Hour), Sequence: 1,
		Methods: []invoice.Method{{Method: chainName + "/btc", Chain: chainName, Kind: invoice.KindBitcoin,
			Asset: invoice.Asset{Code: "BTC", Decimals: 8}, Address: addr, DeriveIdx: idx, AmountDue: big.NewInt(1000),
			Rate: "1", RateSource: "identity", RateTime: now, ConfirmationsRequired: 1}},
	}
	for i, st := range paid {
		inv.Payments = append(inv.Payments, invoice.Payment{ID: fmt.Sprintf("pay_%s_%d", id, i), Method: chainName + "/btc",
			TxID: fmt.Sprintf("%064d", int(idx)*10+i), Amount: big.NewInt(1000), Status: st, SeenAt: now})
	}
	return inv
}

func TestAddressGap(t *testing.T) {
	const (
		pending   = invoice.PaymentPending
		confirmed = invoice.PaymentConfirmed
		orphaned  = invoice.PaymentOrphaned
		replaced  = invoice.PaymentReplaced
	)
	type addr struct {
		idx  uint32
		paid []invoice.PaymentStatus
	}
	for _, c := range []struct {
		name  string
		addrs []addr
		want  Gap
	}{
		{"no addresses", nil, Gap{Unpaid: 0, LastPaid: -1, Highest: -1}},
		{"none paid", []addr{{0, nil}, {1, nil}, {2, nil}}, Gap{Unpaid: 3, LastPaid: -1, Highest: 2}},
		{"last paid", []addr{{0, nil}, {1, nil}, {2, []invoice.PaymentStatus{confirmed}}}, Gap{Unpaid: 0, LastPaid: 2, Highest: 2}},
		{"run after a paid one", []addr{{0, []invoice.PaymentStatus{confirmed}}, {1, nil}, {2, nil}, {3, nil}},
			Gap{Unpaid: 3, LastPaid: 0, Highest: 3}},
		{"pending counts as paid", []addr{{0, nil}, {1, []invoice.PaymentStatus{pending}}, {2, nil}},
			Gap{Unpaid: 1, LastPaid: 1, Highest: 2}},
		{"orphaned and replaced do not", []addr{{0, []invoice.PaymentStatus{confirmed}}, {1, []invoice.PaymentStatus{orphaned}},
			{2, []invoice.PaymentStatus{replaced}}, {3, nil}}, Gap{Unpaid: 3, LastPaid: 0, Highest: 3}},
		{"replaced then confirmed", []addr{{0, nil}, {1, []invoice.PaymentStatus{replaced, confirmed}}, {2, nil}},
			Gap{Unpaid: 1, LastPaid: 1, Highest: 2}},
		{"holes in the indexes", []addr{{5, []invoice.PaymentStatus{confirmed}}, {9, nil}, {40, nil}},
			Gap{Unpaid: 2, LastPaid: 5, Highest: 40}},
		{"an earlier paid one does not reset", []addr{{0, nil}, {1, []invoice.PaymentStatus{confirmed}}, {2, nil},
			{3, []invoice.PaymentStatus{pending}}, {4, nil}, {5, nil}}, Gap{Unpaid: 2, LastPaid: 3, Highest: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t, Options{})
			now := time.Unix(1_800_000_000, 0).UTC()
			err := db.Write(ctx, func(tx *Tx) error {
				for _, a := range c.addrs {
					if err := tx.InsertInvoice(ctx, gapInvoice("bitcoin", a.idx, now, a.paid...)); err != nil {
						return err
					}
				}
				// Another chain's paid addresses never count.
				return tx.InsertInvoice(ctx, gapInvoice("other", 99, now, confirmed))
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.AddressGap(ctx, "bitcoin")
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("AddressGap = %+v, want %+v", got, c.want)
			}
		})
	}
}
