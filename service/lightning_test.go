package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

type fakeInvoicer struct {
	n   int
	err error
	got []string // "sats memo expiry"
}

func (f *fakeInvoicer) CreateInvoice(_ context.Context, sats *big.Int, memo string, expiry time.Duration) (BOLT11, error) {
	if f.err != nil {
		return BOLT11{}, f.err
	}
	f.n++
	f.got = append(f.got, fmt.Sprintf("%s %s %s", sats, memo, expiry))
	return BOLT11{PaymentRequest: fmt.Sprintf("lnbcrt1invoice%d", f.n), PaymentHash: fmt.Sprintf("%064d", f.n), AddIndex: uint64(f.n)}, nil
}

func TestCreateLightning(t *testing.T) {
	tests := []struct {
		name      string
		methods   []string
		lndErr    error
		wantErr   string // service error code, "" = created
		wantMeths []string
	}{
		{"lightning only", []string{"lightning/btc"}, nil, "", []string{"lightning/btc"}},
		{"both", []string{"bitcoin/btc", "lightning/btc"}, nil, "", []string{"bitcoin/btc", "lightning/btc"}},
		{"defaults, lnd down: on-chain only", nil, errors.New("lnd unreachable"), "", []string{"bitcoin/btc"}},
		{"named, lnd down: 503", []string{"bitcoin/btc", "lightning/btc"}, errors.New("lnd unreachable"), "unavailable", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			// Not t.TempDir: the service's address prefill may still open a
			// read connection (creating the -shm file) while the directory
			// is removed; a leftover temp dir is no test failure.
			dir, err := os.MkdirTemp("", "payd-service-ln-")
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, filepath.Join(dir, "p.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close(); _ = os.RemoveAll(dir) })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ln := &fakeInvoicer{err: tt.lndErr}
			var watched []string
			s := New(Config{
				Methods: []MethodSpec{
					{Name: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Confirmations: 1},
					{Name: "lightning/btc", Chain: "lightning", Kind: invoice.KindLightning, Asset: invoice.BTC},
				},
				ExpiresIn: 15 * time.Minute, MonitoringWindow: time.Hour,
			}, Deps{DB: db, Derivers: map[string]Deriver{"bitcoin": fakeDeriver("bc")}, Lightning: map[string]Invoicer{"lightning": ln},
				Watch: func(_ string, a ...string) { watched = append(watched, a...) }, Log: slog.New(slog.DiscardHandler)})
			inv, err := s.Create(ctx, CreateRequest{Amount: "0.0005", Currency: "BTC", Methods: tt.methods, Description: "tee",
				Confirmations: map[string]int{"lightning": 3}})
			if tt.wantErr != "" {
				var se *Error
				if !errors.As(err, &se) || se.Code != tt.wantErr || se.Status != 503 {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range inv.Methods {
				names = append(names, m.Method)
				if m.Kind == invoice.KindLightning {
					if m.Address != "lnbcrt1invoice1" || m.ConfirmationsRequired != 0 || m.AmountDue.Int64() != 50_000 {
						t.Fatalf("lightning method %+v", m)
					}
					if ln.got[0] != "50000 tee 15m0s" {
						t.Fatalf("lnd asked for %q", ln.got[0])
					}
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantMeths) {
				t.Fatalf("methods %v, want %v", names, tt.wantMeths)
			}
			rows, err := db.LightningInvoicesOf(ctx, inv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := ln.n; len(rows) != want || (want > 0 && (rows[0].PaymentHash != fmt.Sprintf("%064d", 1) || rows[0].PaymentRequest != "lnbcrt1invoice1")) {
				t.Fatalf("stored %+v", rows)
			}
			got, err := s.Get(ctx, inv.ID)
			if err != nil || fmt.Sprint(len(got.Methods)) != fmt.Sprint(len(names)) {
				t.Fatalf("get: %v %+v", err, got)
			}
			if len(watched) != len(names) {
				t.Fatalf("watched %v", watched)
			}
		})
	}
}
