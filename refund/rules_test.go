package refund

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

func inv(status invoice.Status, ex invoice.Exception, payments ...invoice.Payment) *invoice.Invoice {
	return &invoice.Invoice{ID: "inv_test", Status: status, Exception: ex,
		Methods:  []invoice.Method{{Method: "bitcoin/btc", Chain: "bitcoin", Asset: invoice.BTC}},
		Payments: payments}
}

func pay(sats int64, s invoice.PaymentStatus) invoice.Payment {
	return invoice.Payment{Method: "bitcoin/btc", Amount: big.NewInt(sats), Status: s}
}

func earlier(sats int64, s Status) *Refund {
	return &Refund{Kind: KindRefund, InvoiceID: "inv_test", Method: "bitcoin/btc", Amount: big.NewInt(sats), Status: s}
}

// TestRefundable is the refundable-amount rules as a table.
func TestRefundable(t *testing.T) {
	ok := pay(100_000, invoice.PaymentConfirmed)
	for _, tc := range []struct {
		name    string
		inv     *invoice.Invoice
		method  string
		earlier []*Refund
		amount  int64
		rest    int64
		err     error
	}{
		{"settled, full", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", nil, 100_000, 100_000, nil},
		{"settled, partial", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", nil, 1, 100_000, nil},
		{"overpaid", inv(invoice.StatusSettled, invoice.ExceptionOverpaid, ok, pay(5_000, invoice.PaymentConfirmed)), "bitcoin/btc", nil, 105_000, 105_000, nil},
		{"paid late", inv(invoice.StatusExpired, invoice.ExceptionPaidLate, ok), "bitcoin/btc", nil, 100_000, 100_000, nil},
		{"above what was received", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", nil, 100_001, 100_000, ErrTooMuch},
		{"zero", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", nil, 0, 100_000, ErrTooMuch},
		{"net of earlier refunds", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", []*Refund{earlier(30_000, StatusCompleted), earlier(20_000, StatusReady)}, 50_001, 50_000, ErrTooMuch},
		{"canceled and expired refunds do not count", inv(invoice.StatusSettled, "", ok), "bitcoin/btc", []*Refund{earlier(30_000, StatusCanceled), earlier(20_000, StatusExpired)}, 100_000, 100_000, nil},
		{"pending payments do not count", inv(invoice.StatusSettled, "", ok, pay(7, invoice.PaymentPending), pay(9, invoice.PaymentOrphaned)), "bitcoin/btc", nil, 100_000, 100_000, nil},
		{"new", inv(invoice.StatusNew, invoice.ExceptionUnderpaid, ok), "bitcoin/btc", nil, 1, 0, ErrNotRefundable},
		{"processing", inv(invoice.StatusProcessing, "", ok), "bitcoin/btc", nil, 1, 0, ErrNotRefundable},
		{"expired underpaid", inv(invoice.StatusExpired, invoice.ExceptionUnderpaid, ok), "bitcoin/btc", nil, 1, 0, ErrNotRefundable},
		{"invalid", inv(invoice.StatusInvalid, "", ok), "bitcoin/btc", nil, 1, 0, ErrNotRefundable},
		{"marked settled, nothing received", inv(invoice.StatusSettled, invoice.ExceptionMarked), "bitcoin/btc", nil, 1, 0, ErrTooMuch},
		{"unknown method", inv(invoice.StatusSettled, "", ok), "ethereum/eth", nil, 1, 0, ErrNotRefundable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := Check(tc.inv, tc.method, big.NewInt(tc.amount), tc.earlier)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if rest != nil && rest.Int64() != tc.rest {
				t.Fatalf("rest %s, want %d", rest, tc.rest)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	usd := invoice.FiatAsset("USD")
	usdc := invoice.Asset{Code: "USDC", Decimals: 6}
	for _, tc := range []struct {
		amount   int64
		from, to invoice.Asset
		rate     string
		want     string
	}{
		{1000, usd, invoice.BTC, "60000", "16666"}, // $10 → 0.00016666 BTC (rounded down)
		{2500, usd, invoice.BTC, "50000.00", "50000"},
		{1000, usd, usdc, "1.00", "10000000"},
		{100, usd, invoice.ETH, "3000", "333333333333333"},
	} {
		got, err := Convert(big.NewInt(tc.amount), tc.from, tc.to, tc.rate)
		if err != nil || got.String() != tc.want {
			t.Errorf("Convert(%d %s→%s @%s) = %v, %v; want %s", tc.amount, tc.from.Code, tc.to.Code, tc.rate, got, err, tc.want)
		}
	}
	if _, err := Convert(big.NewInt(1), usd, invoice.BTC, "0"); err == nil {
		t.Error("a zero rate was accepted")
	}
}

// TestTransitions walks a refund through its statuses.
func TestTransitions(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	r := &Refund{Status: StatusAwaitingAddress, ExpiresAt: now.Add(time.Hour), ConfirmationsRequired: 2}
	if err := Cancel(&Refund{Status: StatusBroadcast}, now); !errors.Is(err, ErrState) {
		t.Fatalf("cancel broadcast: %v", err)
	}
	if err := ProvideAddress(r, "bcrt1q…", now, func(*Refund) error { return errors.New("bad") }); err == nil || r.Status != StatusAwaitingAddress || r.Address != "" {
		t.Fatalf("failed build changed the refund: %+v", r)
	}
	if err := ProvideAddress(r, "bcrt1q…", now, func(*Refund) error { return nil }); err != nil || r.Status != StatusReady {
		t.Fatalf("provide: %v %s", err, r.Status)
	}
	if err := ProvideAddress(r, "x", now, func(*Refund) error { return nil }); !errors.Is(err, ErrState) {
		t.Fatalf("second address: %v", err)
	}
	if !Seen(r, "tx1", 0, "", now) || r.Status != StatusBroadcast || Seen(r, "tx1", 0, "", now) {
		t.Fatalf("seen: %+v", r)
	}
	if !Seen(r, "tx1", 10, "h10", now) || Count(r, 10, now) || r.Confirmations != 1 {
		t.Fatalf("mined: %+v", r)
	}
	if !Unmine(r, now) || r.BlockHash != "" || Count(r, 11, now) {
		t.Fatalf("unmine: %+v", r)
	}
	Seen(r, "tx1", 11, "h11", now)
	if !Count(r, 12, now) || r.Status != StatusCompleted || r.CompletedAt == nil {
		t.Fatalf("complete: %+v", r)
	}
	x := &Refund{Status: StatusAwaitingAddress, ExpiresAt: now}
	if Expire(x, now.Add(-time.Second)) || !Expire(x, now) || x.Status != StatusExpired {
		t.Fatalf("expire: %+v", x)
	}
	for _, s := range Statuses {
		if !s.Valid() {
			t.Fatalf("%s", s)
		}
	}
}
