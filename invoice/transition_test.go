package invoice

import (
	"math/big"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

// fixture: 25.00 USD payable as 100000 sats (bitcoin/btc) or 25000000 units
// (ethereum/usdc); expires at t0+15m, monitored until t0+24h15m.
func fixture(st Status, ex Exception, pays ...Payment) *Invoice {
	inv := &Invoice{
		ID: "inv_x", Status: st, Exception: ex, Amount: big.NewInt(2500), Currency: FiatAsset("USD"),
		CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), MonitorUntil: t0.Add(24*time.Hour + 15*time.Minute),
		Methods: []Method{
			{Method: "bitcoin/btc", Asset: BTC, AmountDue: big.NewInt(100_000)},
			{Method: "ethereum/usdc", Asset: Asset{Code: "USDC", Decimals: 6}, AmountDue: big.NewInt(25_000_000)},
		},
		Payments: pays,
	}
	if st == StatusSettled {
		t := t0
		inv.SettledAt = &t
	}
	return inv
}

// pay builds a payment of n units of method m, seen at t0+at minutes.
func pay(m string, n int64, s PaymentStatus, at int) Payment {
	return Payment{Method: m, Amount: big.NewInt(n), Status: s, SeenAt: t0.Add(time.Duration(at) * time.Minute)}
}

func TestEvaluate(t *testing.T) {
	const (
		btc  = "bitcoin/btc"
		usdc = "ethereum/usdc"
	)
	before, after, afterWindow := t0.Add(5*time.Minute), t0.Add(20*time.Minute), t0.Add(25*time.Hour)
	tests := []struct {
		name    string
		inv     *Invoice
		tol     int64
		now     time.Time
		status  Status
		ex      Exception
		events  []EventType
		changed bool
	}{
		{"new, nothing", fixture(StatusNew, ""), 0, before, StatusNew, "", nil, false},
		{"new, partial → underpaid", fixture(StatusNew, "", pay(btc, 40_000, PaymentPending, 1)), 0, before, StatusNew, ExceptionUnderpaid, nil, true},
		{"new, exact unconfirmed → processing", fixture(StatusNew, "", pay(btc, 100_000, PaymentPending, 1)), 0, before, StatusProcessing, "", []EventType{EventProcessing}, true},
		{"new, exact confirmed → settled in one step (no processing event)", fixture(StatusNew, "", pay(btc, 100_000, PaymentConfirmed, 1)), 0, before, StatusSettled, "", []EventType{EventSettled}, true},
		{"new, partial + top-up → processing", fixture(StatusNew, ExceptionUnderpaid, pay(btc, 40_000, PaymentConfirmed, 1), pay(btc, 60_000, PaymentPending, 2)), 0, before, StatusProcessing, "", []EventType{EventProcessing}, true},
		{"new, two methods add up", fixture(StatusNew, "", pay(btc, 50_000, PaymentConfirmed, 1), pay(usdc, 12_500_000, PaymentConfirmed, 2)), 0, before, StatusSettled, "", []EventType{EventSettled}, true},
		{"new, two methods short", fixture(StatusNew, "", pay(btc, 50_000, PaymentConfirmed, 1), pay(usdc, 12_499_999, PaymentConfirmed, 2)), 0, before, StatusNew, ExceptionUnderpaid, nil, true},
		{"new, within tolerance", fixture(StatusNew, "", pay(btc, 99_500, PaymentConfirmed, 1)), 50, before, StatusSettled, "", []EventType{EventSettled}, true},
		{"new, below tolerance", fixture(StatusNew, "", pay(btc, 99_499, PaymentConfirmed, 1)), 50, before, StatusNew, ExceptionUnderpaid, nil, true},
		{"new, overpaid", fixture(StatusNew, "", pay(btc, 100_001, PaymentConfirmed, 1)), 0, before, StatusSettled, ExceptionOverpaid, []EventType{EventSettled}, true},
		{"new, orphaned payment does not count", fixture(StatusNew, "", pay(btc, 100_000, PaymentOrphaned, 1)), 0, before, StatusNew, "", nil, false},
		{"new, replaced payment does not count", fixture(StatusNew, "", pay(btc, 100_000, PaymentReplaced, 1)), 0, before, StatusNew, "", nil, false},
		{"new → expired, nothing", fixture(StatusNew, ""), 0, after, StatusExpired, "", []EventType{EventExpired}, true},
		{"new → expired exactly at expires_at", fixture(StatusNew, ""), 0, t0.Add(15 * time.Minute), StatusExpired, "", []EventType{EventExpired}, true},
		{"new → expired, underpaid", fixture(StatusNew, ExceptionUnderpaid, pay(btc, 1, PaymentConfirmed, 1)), 0, after, StatusExpired, ExceptionUnderpaid, []EventType{EventExpired}, true},
		{"expired, late full payment → paid_late", fixture(StatusExpired, "", pay(btc, 100_000, PaymentPending, 17)), 0, after, StatusExpired, ExceptionPaidLate, nil, true},
		{"expired, late partial → underpaid", fixture(StatusExpired, "", pay(btc, 10, PaymentPending, 17)), 0, after, StatusExpired, ExceptionUnderpaid, nil, true},
		{"expired, on-time part + late rest → paid_late", fixture(StatusExpired, ExceptionUnderpaid, pay(btc, 50_000, PaymentConfirmed, 1), pay(btc, 50_000, PaymentConfirmed, 17)), 0, after, StatusExpired, ExceptionPaidLate, nil, true},
		{"new, catch-up finds on-time payment after expiry → settled", fixture(StatusNew, "", pay(btc, 100_000, PaymentConfirmed, 10)), 0, after, StatusSettled, "", []EventType{EventSettled}, true},
		{"expired, reorged on-time payment back → processing", fixture(StatusExpired, "", pay(btc, 100_000, PaymentPending, 10)), 0, after, StatusProcessing, "", []EventType{EventProcessing}, true},
		{"processing, confirms → settled", fixture(StatusProcessing, "", pay(btc, 100_000, PaymentConfirmed, 1)), 0, before, StatusSettled, "", []EventType{EventSettled}, true},
		{"processing, still pending after expiry stays", fixture(StatusProcessing, "", pay(btc, 100_000, PaymentPending, 1)), 0, after, StatusProcessing, "", nil, false},
		{"processing, replaced before expiry → new", fixture(StatusProcessing, "", pay(btc, 100_000, PaymentReplaced, 1)), 0, before, StatusNew, "", nil, true},
		{"processing, orphaned after expiry waits", fixture(StatusProcessing, "", pay(btc, 100_000, PaymentOrphaned, 1)), 0, after, StatusProcessing, "", nil, false},
		{"processing, orphaned past window → invalid", fixture(StatusProcessing, "", pay(btc, 100_000, PaymentOrphaned, 1)), 0, afterWindow, StatusInvalid, "", []EventType{EventInvalid}, true},
		{"settled, reorged to pending → processing", fixture(StatusSettled, "", pay(btc, 100_000, PaymentPending, 1)), 0, before, StatusProcessing, "", []EventType{EventProcessing}, true},
		{"settled, orphaned before expiry → new", fixture(StatusSettled, "", pay(btc, 100_000, PaymentOrphaned, 1)), 0, before, StatusNew, "", nil, true},
		{"settled, orphaned after expiry → processing", fixture(StatusSettled, "", pay(btc, 100_000, PaymentOrphaned, 1)), 0, after, StatusProcessing, "", []EventType{EventProcessing}, true},
		{"settled stays settled", fixture(StatusSettled, "", pay(btc, 100_000, PaymentConfirmed, 1)), 0, after, StatusSettled, "", nil, false},
		{"settled, extra payment → overpaid", fixture(StatusSettled, "", pay(btc, 100_000, PaymentConfirmed, 1), pay(btc, 5, PaymentPending, 20)), 0, after, StatusSettled, ExceptionOverpaid, nil, true},
		{"marked settled never changes", fixture(StatusSettled, ExceptionMarked), 0, after, StatusSettled, ExceptionMarked, nil, false},
		{"marked invalid never changes", fixture(StatusInvalid, ExceptionMarked, pay(btc, 100_000, PaymentConfirmed, 1)), 0, before, StatusInvalid, ExceptionMarked, nil, false},
		{"invalid is final", fixture(StatusInvalid, "", pay(btc, 100_000, PaymentConfirmed, 1)), 0, before, StatusInvalid, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.inv.ToleranceBP = tt.tol
			evs, changed := Evaluate(tt.inv, tt.now)
			if tt.inv.Status != tt.status || tt.inv.Exception != tt.ex {
				t.Errorf("got %s/%q, want %s/%q", tt.inv.Status, tt.inv.Exception, tt.status, tt.ex)
			}
			if !slices.Equal(evs, tt.events) {
				t.Errorf("events %v, want %v", evs, tt.events)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			// Every status event names the status the invoice is stored in.
			for _, e := range evs {
				if st, ok := e.StatusOf(); ok && st != tt.inv.Status {
					t.Errorf("event %s for an invoice left %s", e, tt.inv.Status)
				}
			}
			if (tt.inv.Status == StatusSettled) != (tt.inv.SettledAt != nil) {
				t.Errorf("status %s with settled_at %v", tt.inv.Status, tt.inv.SettledAt)
			}
			// Evaluate is idempotent: a second run changes nothing.
			if evs, changed := Evaluate(tt.inv, tt.now); changed || len(evs) > 0 {
				t.Errorf("second Evaluate changed=%v events=%v", changed, evs)
			}
		})
	}
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		name      string
		p         Payment
		required  int
		tip       uint64
		conf      int
		status    PaymentStatus
		confirmed bool
	}{
		{"mempool, 1 required", Payment{Status: PaymentPending}, 1, 100, 0, PaymentPending, false},
		{"in tip block, 1 required", Payment{Status: PaymentPending, BlockHeight: 100}, 1, 100, 1, PaymentConfirmed, true},
		{"in tip block, 2 required", Payment{Status: PaymentPending, BlockHeight: 100}, 2, 100, 1, PaymentPending, false},
		{"one more block, 2 required", Payment{Status: PaymentPending, BlockHeight: 100, Confirmations: 1}, 2, 101, 2, PaymentConfirmed, true},
		{"0-conf in mempool", Payment{Status: PaymentPending}, 0, 100, 0, PaymentConfirmed, true},
		{"0-conf RBF in mempool waits", Payment{Status: PaymentPending, RBF: true}, 0, 100, 0, PaymentPending, false},
		{"0-conf RBF mined", Payment{Status: PaymentPending, RBF: true, BlockHeight: 100}, 0, 100, 1, PaymentConfirmed, true},
		{"confirmed back to mempool", Payment{Status: PaymentConfirmed, Confirmations: 1}, 1, 100, 0, PaymentPending, false},
		{"orphaned untouched", Payment{Status: PaymentOrphaned}, 1, 100, 0, PaymentOrphaned, false},
		{"replaced untouched", Payment{Status: PaymentReplaced}, 0, 100, 0, PaymentReplaced, false},
		{"tip behind block height", Payment{Status: PaymentPending, BlockHeight: 101}, 1, 100, 0, PaymentPending, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			_, confirmed := Confirm(&p, tt.required, tt.tip)
			if p.Confirmations != tt.conf || p.Status != tt.status || confirmed != tt.confirmed {
				t.Errorf("got %d %s %v, want %d %s %v", p.Confirmations, p.Status, confirmed, tt.conf, tt.status, tt.confirmed)
			}
		})
	}
}

func TestDueFor(t *testing.T) {
	usd := FiatAsset("USD")
	usdc := Asset{Code: "USDC", Decimals: 6}
	eth := Asset{Code: "ETH", Decimals: 18}
	tests := []struct {
		amount int64
		cur    Asset
		asset  Asset
		rate   string
		want   string
	}{
		{2500, usd, BTC, "60630.12", "41234"},        // 25/60630.12 = 0.000412335… → rounded up
		{2500, usd, usdc, "1", "25000000"},           // peg
		{2500, usd, eth, "3000", "8333333333333334"}, // 0.008333… rounded up to the wei
		{100_000, BTC, BTC, "1", "100000"},           // identity
		{1, usd, BTC, "100000000", "1"},              // less than a sat rounds up to one
		{6_000_000, usd, BTC, "60000", "100000000"},  // exact: 60000.00 USD = 1 BTC
	}
	for _, tt := range tests {
		r, _ := new(big.Rat).SetString(tt.rate)
		got := DueFor(big.NewInt(tt.amount), tt.cur, tt.asset, r)
		if got.String() != tt.want {
			t.Errorf("DueFor(%d %s → %s @ %s) = %s, want %s", tt.amount, tt.cur.Code, tt.asset.Code, tt.rate, got, tt.want)
		}
	}
	if DueFor(big.NewInt(1), usd, BTC, new(big.Rat)) != nil {
		t.Error("zero rate must give nil")
	}
}

// FuzzParseAmount: parsing never panics, and whatever parses formats back to
// a string that parses to the same value.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "25.00", "0.00041234", "1e5", "-1", "+1", ".5", "5.", "00.1", "1.123456789", " 1", "１", "99999999999999999999999999.999999999999999999"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, dec int) {
		dec = ((dec % 19) + 19) % 19
		v, err := ParseAmount(s, dec, "X")
		if err != nil {
			return
		}
		if v.Sign() < 0 {
			t.Fatalf("ParseAmount(%q) = %s: negative", s, v)
		}
		for _, out := range []string{FormatAmount(v, dec), FormatTrimmed(v, dec)} {
			back, err := ParseAmount(out, dec, "X")
			if err != nil || back.Cmp(v) != 0 {
				t.Fatalf("round trip %q → %s → %q → %v, %v", s, v, out, back, err)
			}
		}
	})
}
