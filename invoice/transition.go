package invoice

import (
	"math/big"
	"time"
)

// Fraction is Σ amount(m) / due(m) over the invoice's methods: 1 means the
// invoice's amount arrived exactly, whatever mix of methods paid it.
func (inv *Invoice) Fraction(amount func(m string) *big.Int) *big.Rat {
	total := new(big.Rat)
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if m.AmountDue == nil || m.AmountDue.Sign() <= 0 {
			continue
		}
		a := amount(m.Method)
		if a.Sign() == 0 {
			continue
		}
		total.Add(total, new(big.Rat).SetFrac(a, m.AmountDue))
	}
	return total
}

// receivedBy is what arrived for method m and still counts, seen before by
// (zero time = any time).
func (inv *Invoice) receivedBy(m string, by time.Time) *big.Int {
	sum := new(big.Int)
	for _, p := range inv.Payments {
		if p.Method != m || (p.Status != PaymentPending && p.Status != PaymentConfirmed) {
			continue
		}
		if !by.IsZero() && !p.SeenAt.Before(by) {
			continue
		}
		sum.Add(sum, p.Amount)
	}
	return sum
}

// full reports whether fraction f of the amount is enough under the
// invoice's tolerance: f ≥ (10000 − tolerance_bp) / 10000.
func (inv *Invoice) full(f *big.Rat) bool {
	need := big.NewRat(10000-inv.ToleranceBP, 10000)
	return f.Cmp(need) >= 0
}

var one = big.NewRat(1, 1)

// Evaluate applies the contract's status rules (API.md "Status machine") to
// the invoice as its payments now stand, at time now. It updates Status,
// Exception and SettledAt in place and returns the status event the change
// causes: at most one, and always the event of the status the invoice ends
// in (a jump from new to settled yields settled only, never a processing
// event for a state the invoice did not hold when it was stored). Payment events (payment_received, payment_confirmed,
// payment_reorged) are the caller's: they follow from payment changes, not
// from the status. changed reports whether Status, Exception or SettledAt
// changed.
//
// Rules, with received = pending + confirmed payments, "full" = at least
// (100 − tolerance)% of the amount over all methods, and "on time" = payments
// first seen before expires_at (the instant the invoice expires):
//
//   - marked invoices (exception "marked") never change by themselves;
//   - new: full on-time received → processing (settled at once if full
//     confirmed); else after expires_at → expired (exception paid_late if the
//     full amount arrived late, underpaid if anything arrived); else
//     exception underpaid while something arrived;
//   - processing: full confirmed → settled; received no longer full (a
//     payment was orphaned or replaced) → new before expires_at, and after
//     it, invalid once monitor_until passes (until then it waits for the
//     payment to come back);
//   - settled: confirmed no longer full (reorg) → processing if still full
//     received, else new (which then expires or waits as above);
//   - expired: full on-time received (a reorged payment came back, or
//     catching up found a payment mined before expiry) → processing/settled;
//     else the exception follows what arrived (paid_late, underpaid);
//   - invalid: final.
//
// Settled invoices get exception overpaid when more than the amount arrived.
func Evaluate(inv *Invoice, now time.Time) (events []EventType, changed bool) {
	if inv.Exception == ExceptionMarked || inv.Status == StatusInvalid {
		return nil, false
	}
	before := struct {
		s Status
		e Exception
		t *time.Time
	}{inv.Status, inv.Exception, inv.SettledAt}

	received := inv.Fraction(func(m string) *big.Int { return inv.receivedBy(m, time.Time{}) })
	onTime := inv.Fraction(func(m string) *big.Int { return inv.receivedBy(m, inv.ExpiresAt) })
	confirmed := inv.Fraction(inv.Confirmed)
	expired := !now.Before(inv.ExpiresAt)

	settle := func() {
		if inv.Status != StatusSettled {
			// A jump from new (or expired) straight to settled emits
			// settled only: the invoice never was processing at a commit,
			// and every event carries the invoice as committed.
			events = append(events, EventSettled)
			t := now.UTC().Truncate(time.Second)
			inv.SettledAt = &t
		}
		inv.Status = StatusSettled
		inv.Exception = ExceptionNone
		if received.Cmp(one) > 0 {
			inv.Exception = ExceptionOverpaid
		}
	}
	process := func() {
		if inv.Status != StatusProcessing {
			events = append(events, EventProcessing)
		}
		inv.Status = StatusProcessing
		inv.Exception = ExceptionNone
		inv.SettledAt = nil
	}
	waiting := func() {
		inv.SettledAt = nil
		if !expired {
			inv.Status = StatusNew
			inv.Exception = ExceptionNone
			if received.Sign() > 0 {
				inv.Exception = ExceptionUnderpaid
			}
			return
		}
		if inv.Status != StatusExpired {
			events = append(events, EventExpired)
		}
		inv.Status = StatusExpired
		switch {
		case inv.full(received):
			inv.Exception = ExceptionPaidLate
		case received.Sign() > 0:
			inv.Exception = ExceptionUnderpaid
		default:
			inv.Exception = ExceptionNone
		}
	}

	switch inv.Status {
	case StatusNew, StatusExpired:
		switch {
		case inv.full(onTime) && inv.full(confirmed):
			settle()
		case inv.full(onTime):
			process()
		default:
			waiting()
		}
	case StatusProcessing:
		switch {
		case inv.full(confirmed):
			settle()
		case inv.full(received):
			// still waiting for confirmations
		case !expired:
			waiting()
		case !now.Before(inv.MonitorUntil):
			inv.Status = StatusInvalid
			events = append(events, EventInvalid)
		}
	case StatusSettled:
		switch {
		case inv.full(confirmed):
			settle() // refresh overpaid
		case inv.full(received):
			process()
		default:
			// Payment reorged out: back to waiting. Past expiry it waits in
			// processing for the payment to be mined again, up to the
			// monitoring window.
			if expired {
				process()
			} else {
				waiting()
			}
		}
	}
	changed = inv.Status != before.s || inv.Exception != before.e || !sameTime(inv.SettledAt, before.t)
	return events, changed
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// Confirm sets a payment's confirmations for a chain whose tip is at height
// tip, and its status from the number required: confirmations = tip − block
// height + 1 (0 while unconfirmed). With required 0 a payment counts when
// seen, except a Bitcoin transaction that signals replace-by-fee, which still
// needs one confirmation. Orphaned and replaced payments are left alone. It
// reports whether the payment changed and whether it became confirmed.
func Confirm(p *Payment, required int, tip uint64) (changed, nowConfirmed bool) {
	if p.Status != PaymentPending && p.Status != PaymentConfirmed {
		return false, false
	}
	conf := 0
	if p.BlockHeight > 0 && tip >= p.BlockHeight {
		conf = int(tip - p.BlockHeight + 1)
	}
	status := PaymentPending
	switch {
	case conf >= required && conf > 0:
		status = PaymentConfirmed
	case required == 0 && conf == 0 && !p.RBF:
		status = PaymentConfirmed
	}
	changed = conf != p.Confirmations || status != p.Status
	nowConfirmed = status == PaymentConfirmed && p.Status != PaymentConfirmed
	p.Confirmations, p.Status = conf, status
	return changed, nowConfirmed
}

// DueFor computes the amount due in an asset for an invoice amount in
// currency at rate (price of one asset unit in currency), rounded UP to the
// asset's base unit so that paying the amount due is never short:
// ceil(amount / 10^cur.Decimals / rate × 10^asset.Decimals).
func DueFor(amount *big.Int, cur Asset, asset Asset, rate *big.Rat) *big.Int {
	if rate == nil || rate.Sign() <= 0 {
		return nil
	}
	num := new(big.Int).Mul(amount, pow10(asset.Decimals))
	num.Mul(num, rate.Denom())
	den := new(big.Int).Mul(pow10(cur.Decimals), rate.Num())
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }
