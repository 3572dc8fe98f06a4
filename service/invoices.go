package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Get returns an invoice (ErrNotFound when there is none).
func (s *Service) Get(ctx context.Context, id string) (*invoice.Invoice, error) {
	if !invoice.ValidID(id, invoice.PrefixInvoice) {
		return nil, ErrNotFound
	}
	inv, err := s.d.DB.Invoice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return inv, err
}

// List returns invoices newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]*invoice.Invoice, bool, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 200 {
		return nil, false, invalid("limit", "limit must be between 1 and 200")
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, false, invalid("status", "unknown status %q", f.Status)
	}
	if f.StartingAfter != "" && !invoice.ValidID(f.StartingAfter, invoice.PrefixInvoice) {
		return nil, false, invalid("starting_after", "starting_after must be an invoice id (inv_…)")
	}
	return s.d.DB.ListInvoices(ctx, f.Status, f.OrderID, f.StartingAfter, f.Limit)
}

// Cancel expires a new invoice that received nothing, at once.
func (s *Service) Cancel(ctx context.Context, id string) (*invoice.Invoice, error) {
	return s.change(ctx, id, func(inv *invoice.Invoice, now time.Time) ([]invoice.EventType, error) {
		if inv.Status != invoice.StatusNew {
			return nil, &Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("invoice is %s; only a new invoice can be cancelled", inv.Status)}
		}
		for _, p := range inv.Payments {
			if p.Status == invoice.PaymentPending || p.Status == invoice.PaymentConfirmed {
				return nil, &Error{Status: http.StatusConflict, Code: "conflict", Message: "invoice has received a payment and cannot be cancelled"}
			}
		}
		inv.Status, inv.Exception, inv.ExpiresAt = invoice.StatusExpired, invoice.ExceptionNone, now
		inv.MonitorUntil = now.Add(s.cfg.MonitoringWindow)
		return []invoice.EventType{invoice.EventExpired}, nil
	})
}

// Mark overrides an invoice's status (settled or invalid) with exception
// "marked"; the watcher never changes a marked invoice again.
func (s *Service) Mark(ctx context.Context, id string, status invoice.Status) (*invoice.Invoice, error) {
	if status != invoice.StatusSettled && status != invoice.StatusInvalid {
		return nil, invalid("status", "status must be \"settled\" or \"invalid\"")
	}
	return s.change(ctx, id, func(inv *invoice.Invoice, now time.Time) ([]invoice.EventType, error) {
		if inv.Status == status && inv.Exception == invoice.ExceptionMarked {
			return nil, nil // already so: idempotent
		}
		inv.Status, inv.Exception = status, invoice.ExceptionMarked
		inv.SettledAt = nil
		if status == invoice.StatusSettled {
			t := now
			inv.SettledAt = &t
			return []invoice.EventType{invoice.EventSettled}, nil
		}
		return []invoice.EventType{invoice.EventInvalid}, nil
	})
}

// change loads an invoice in a write transaction, applies fn, and stores the
// result with its events (sequence + 1) when fn returned any.
func (s *Service) change(ctx context.Context, id string, fn func(inv *invoice.Invoice, now time.Time) ([]invoice.EventType, error)) (*invoice.Invoice, error) {
	if !invoice.ValidID(id, invoice.PrefixInvoice) {
		return nil, ErrNotFound
	}
	var inv *invoice.Invoice
	var evs []invoice.Event
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		inv, err = tx.Invoice(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.d.Now().UTC().Truncate(time.Second)
		types, err := fn(inv, now)
		if err != nil || len(types) == 0 {
			return err
		}
		inv.Sequence++
		for _, t := range types {
			ev, err := invoice.NewEvent(t, inv, s.d.Now(), s.ViewOptions())
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		if err := tx.SaveInvoice(ctx, inv); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		s.d.Log.Info("invoice changed", "invoice", inv.ID, "status", inv.Status, "exception", inv.Exception)
		s.d.Notify(evs)
	}
	return inv, nil
}
