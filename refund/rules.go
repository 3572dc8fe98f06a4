package refund

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// CanRefund says whether an invoice may be refunded at all: settled
// (overpaid included, not merely marked without payments) or expired with
// the full amount paid late. Nothing else: an unsettled invoice may still
// settle, an invalid one's payments did not hold.
func CanRefund(inv *invoice.Invoice) error {
	switch {
	case inv.Status == invoice.StatusSettled:
		return nil
	case inv.Status == invoice.StatusExpired && inv.Exception == invoice.ExceptionPaidLate:
		return nil
	}
	ex := ""
	if inv.Exception != "" {
		ex = " (" + string(inv.Exception) + ")"
	}
	return fmt.Errorf("%w: it is %s%s; only settled, overpaid or paid_late invoices can be refunded", ErrNotRefundable, inv.Status, ex)
}

// Refundable is what is left to refund of an invoice's method: what it
// received with enough confirmations, less every earlier refund of that
// method that still holds (not canceled, not expired).
func Refundable(inv *invoice.Invoice, method string, earlier []*Refund) (*big.Int, error) {
	if err := CanRefund(inv); err != nil {
		return nil, err
	}
	if _, ok := inv.MethodByName(method); !ok {
		return nil, fmt.Errorf("%w: invoice %s has no method %s", ErrNotRefundable, inv.ID, method)
	}
	rest := inv.Confirmed(method)
	for _, r := range earlier {
		if r.Kind == KindRefund && r.InvoiceID == inv.ID && r.Method == method && r.Status.Holds() && r.Amount != nil {
			rest.Sub(rest, r.Amount)
		}
	}
	if rest.Sign() < 0 {
		rest.SetInt64(0)
	}
	return rest, nil
}

// Check is Refundable plus the amount: > 0 and ≤ the rest.
func Check(inv *invoice.Invoice, method string, amount *big.Int, earlier []*Refund) (rest *big.Int, err error) {
	rest, err = Refundable(inv, method, earlier)
	if err != nil {
		return nil, err
	}
	if amount.Sign() <= 0 {
		return rest, fmt.Errorf("%w: the amount must be more than 0", ErrTooMuch)
	}
	if amount.Cmp(rest) > 0 {
		m, _ := inv.MethodByName(method)
		return rest, fmt.Errorf("%w: %s %s asked, %s %s left to refund", ErrTooMuch,
			m.Asset.Format(amount), m.Asset.Code, m.Asset.Format(rest), m.Asset.Code)
	}
	return rest, nil
}

// Convert turns amount (base units of from) into base units of to at rate,
// the price of one unit of to in from ("60000.00" USD per BTC), rounding
// down: a refund never pays more than asked.
func Convert(amount *big.Int, from, to invoice.Asset, rate string) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(rate)
	if !ok || r.Sign() <= 0 || strings.ContainsAny(rate, "eE/") {
		return nil, fmt.Errorf("refund: bad rate %q", rate)
	}
	// units = amount / 10^from.dec × 10^to.dec / rate
	v := new(big.Rat).SetInt(amount)
	v.Mul(v, new(big.Rat).SetFrac(pow10(to.Decimals), pow10(from.Decimals)))
	v.Quo(v, r)
	return new(big.Int).Quo(v.Num(), v.Denom()), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// ProvideAddress records the shopper's address: awaiting_address → ready
// once the unsigned transaction is built (build fills it in).
func ProvideAddress(r *Refund, addr string, now time.Time, build func(*Refund) error) error {
	if r.Status != StatusAwaitingAddress {
		return fmt.Errorf("%w: the refund is %s; an address can be given only while awaiting_address", ErrState, r.Status)
	}
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return fmt.Errorf("%w: the claim link expired at %s", ErrState, invoice.FormatTime(r.ExpiresAt))
	}
	r.Address = addr
	if err := build(r); err != nil {
		r.Address = ""
		return err
	}
	r.Status, r.UpdatedAt = StatusReady, now
	r.Sequence++
	return nil
}

// Cancel cancels a refund nothing was sent for yet.
func Cancel(r *Refund, now time.Time) error {
	if r.Status != StatusAwaitingAddress && r.Status != StatusReady {
		return fmt.Errorf("%w: the refund is %s; only awaiting_address or ready refunds can be canceled", ErrState, r.Status)
	}
	r.Status, r.UpdatedAt = StatusCanceled, now
	r.Sequence++
	return nil
}

// Expire expires a claim link past its deadline; it reports whether it did.
func Expire(r *Refund, now time.Time) bool {
	if r.Status != StatusAwaitingAddress || r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt) {
		return false
	}
	r.Status, r.UpdatedAt = StatusExpired, now
	r.Sequence++
	return true
}

// Seen records the transaction that pays the refund: in the mempool
// (block nil) or mined. It moves a ready refund to broadcast. It reports
// whether anything changed.
func Seen(r *Refund, txid string, height uint64, hash string, now time.Time) bool {
	if r.Status != StatusReady && r.Status != StatusBroadcast {
		return false
	}
	changed := false
	if r.Status != StatusBroadcast || r.TxID != txid {
		r.Status, r.TxID = StatusBroadcast, txid
		changed = true
	}
	if hash != "" && r.BlockHash != hash {
		r.BlockHeight, r.BlockHash = height, hash
		changed = true
	}
	if changed {
		r.UpdatedAt = now
		r.Sequence++
	}
	return changed
}

// Unmine forgets the block of a refund's transaction after a reorg; the
// refund stays broadcast until the transaction is mined again.
func Unmine(r *Refund, now time.Time) bool {
	if r.BlockHash == "" || r.Status != StatusBroadcast {
		return false
	}
	r.BlockHeight, r.BlockHash, r.Confirmations = 0, "", 0
	r.UpdatedAt = now
	r.Sequence++
	return true
}

// Count updates the confirmations of a mined refund at tip and completes it
// at ConfirmationsRequired; it reports whether the refund completed.
func Count(r *Refund, tip uint64, now time.Time) (completed bool) {
	if r.Status != StatusBroadcast || r.BlockHash == "" || tip < r.BlockHeight {
		return false
	}
	r.Confirmations = int(tip - r.BlockHeight + 1)
	need := max(r.ConfirmationsRequired, 1)
	if r.Confirmations < need {
		return false
	}
	t := now
	r.Status, r.CompletedAt, r.UpdatedAt = StatusCompleted, &t, now
	r.Sequence++
	return true
}
