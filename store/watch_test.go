package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestEachWatchedAddress(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	addrs := []string{
		"0xAbC0000000000000000000000000000000000001",
		"0xAbC0000000000000000000000000000000000002",
		"0xabc0000000000000000000000000000000000003", // spelling kept as stored
	}
	for i, a := range addrs {
		inv := testInvoice("inv_"+string(rune('a'+i)), now.Add(time.Duration(i)*time.Hour), a)
		for j := range inv.Methods {
			inv.Methods[j].DeriveIdx = uint32(10 + i)
		}
		if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
			t.Fatal(err)
		}
	}
	// testInvoice watches until created + 24 h.
	tests := []struct {
		name  string
		chain string
		at    time.Time
		want  []string
	}{
		{"all open", "ethereum", now, addrs},
		{"first watch ended", "ethereum", now.Add(24 * time.Hour), addrs[1:]},
		{"all ended", "ethereum", now.Add(30 * time.Hour), nil},
		{"other chain", "bitcoin", now, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := db.EachWatchedAddress(ctx, tc.chain, tc.at, func(a string) error {
				got = append(got, a)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// The same set as WatchedAddresses.
			all, err := db.WatchedAddresses(ctx, tc.chain, tc.at)
			slices.Sort(all)
			if err != nil || !slices.Equal(all, got) {
				t.Fatalf("WatchedAddresses = %q, %v", all, err)
			}
		})
	}
	// An error from fn stops the scan and is returned as it is.
	stop := errors.New("stop")
	n := 0
	err := db.EachWatchedAddress(ctx, "ethereum", now, func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d calls, want stop after 1", err, n)
	}
	// A cancelled context is an error, not an empty set.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.EachWatchedAddress(cctx, "ethereum", now, func(string) error { return nil }); err == nil {
		t.Fatal("no error with a cancelled context")
	}
}
