package greenfield

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/webhook")

// fixtureInvoice is a $10 invoice payable in BTC and USDC.
func fixtureInvoice() *invoice.Invoice {
	t0 := time.Date(2026, 11, 22, 16, 12, 48, 0, time.UTC)
	return &invoice.Invoice{
		ID: "inv_8w1n3m0k6q2t9v4r7c5xab", Status: invoice.StatusNew, Amount: big.NewInt(1000), Currency: invoice.FiatAsset("USD"),
		OrderID: "42", Metadata: json.RawMessage(`{"orderId":"42","posData":"{\"WooCommerce\":{}}"}`),
		CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), MonitorUntil: t0.Add(24 * time.Hour), Sequence: 1,
		Methods: []invoice.Method{
			{Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Address: "bcrt1qexample",
				AmountDue: big.NewInt(16667), Rate: "60000", ConfirmationsRequired: 1},
			{Method: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "USDC", Decimals: 6},
				Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Address: "0x38A28F33F35F4D76F50E7f1c5B515aE7dff4baf2",
				AmountDue: big.NewInt(10_000_000), Rate: "1", ConfirmationsRequired: 12},
		},
	}
}

// TestWebhookGolden pins the Greenfield body of every event type
// (testdata/webhook/<case>.json; go test -update rewrites them).
func TestWebhookGolden(t *testing.T) {
	f := NewWebhookFormat(testConfig())
	seen := time.Date(2026, 11, 22, 16, 14, 2, 0, time.UTC)
	pay := func(inv *invoice.Invoice, st invoice.PaymentStatus, at time.Time, units int64) {
		inv.Payments = append(inv.Payments, invoice.Payment{ID: "pay_x", Method: "bitcoin/btc", TxID: "ab12", OutputIndex: 3,
			Amount: big.NewInt(units), Status: st, SeenAt: at})
	}
	cases := []struct {
		name  string
		typ   invoice.EventType
		setup func(inv *invoice.Invoice)
		redel int64
	}{
		{"created", invoice.EventCreated, func(*invoice.Invoice) {}, 0},
		{"received", invoice.EventPaymentReceived, func(inv *invoice.Invoice) { pay(inv, invoice.PaymentPending, seen, 16667) }, 0},
		{"received-late", invoice.EventPaymentReceived, func(inv *invoice.Invoice) {
			inv.Status, inv.Exception = invoice.StatusExpired, invoice.ExceptionPaidLate
			pay(inv, invoice.PaymentPending, inv.ExpiresAt.Add(time.Minute), 16667)
		}, 0},
		{"payment-settled", invoice.EventPaymentConfirmed, func(inv *invoice.Invoice) { pay(inv, invoice.PaymentConfirmed, seen, 16667) }, 0},
		{"processing-overpaid", invoice.EventProcessing, func(inv *invoice.Invoice) {
			inv.Status, inv.Exception = invoice.StatusProcessing, invoice.ExceptionOverpaid
			pay(inv, invoice.PaymentPending, seen, 20000)
		}, 0},
		{"reorged", invoice.EventPaymentReorged, func(inv *invoice.Invoice) {
			inv.Status = invoice.StatusProcessing
			pay(inv, invoice.PaymentPending, seen, 16667)
		}, 0},
		{"settled-redelivered", invoice.EventSettled, func(inv *invoice.Invoice) {
			inv.Status = invoice.StatusSettled
			pay(inv, invoice.PaymentConfirmed, seen, 16667)
		}, 2},
		{"settled-marked", invoice.EventSettled, func(inv *invoice.Invoice) { inv.Status, inv.Exception = invoice.StatusSettled, invoice.ExceptionMarked }, 0},
		{"invalid-marked", invoice.EventInvalid, func(inv *invoice.Invoice) { inv.Status, inv.Exception = invoice.StatusInvalid, invoice.ExceptionMarked }, 0},
		{"expired-partial", invoice.EventExpired, func(inv *invoice.Invoice) {
			inv.Status, inv.Exception = invoice.StatusExpired, invoice.ExceptionUnderpaid
			pay(inv, invoice.PaymentConfirmed, seen, 5000)
		}, 0},
		{"expired-unpaid", invoice.EventExpired, func(inv *invoice.Invoice) { inv.Status = invoice.StatusExpired }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := fixtureInvoice()
			tc.setup(inv)
			ev, err := invoice.NewEvent(tc.typ, inv, seen.Add(time.Second), invoice.ViewOptions{BaseURL: "https://pay.example"})
			if err != nil {
				t.Fatal(err)
			}
			ev.ID = "evt_8w1n3m0k6q2t9v4r7c5xab" // fixed for the golden file
			var body invoice.EventBody
			_ = json.Unmarshal(ev.Payload, &body)
			body.ID = ev.ID
			payload, _ := json.Marshal(body)
			d := webhook.Delivery{EndpointID: "wh_e9fc3ec8", Secret: "whsec_test", EventID: ev.ID, EventType: string(ev.Type),
				Payload: payload, Redelivery: tc.redel, Attempt: 1, Now: seen}
			got, hdr, err := f.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := webhook.VerifyGreenfield("whsec_test", hdr.Get("BTCPay-Sig"), got); err != nil {
				t.Errorf("signature: %v", err)
			}
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, got, "", "  ")
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "webhook", tc.name+".json")
			if *update {
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs from the golden file:\n%s\nwant:\n%s", tc.name, pretty.Bytes(), want)
			}
			// Same delivery, same bytes: retries resend what was signed.
			again, _, _ := f.Render(d)
			if !bytes.Equal(again, got) {
				t.Error("Render is not deterministic")
			}
		})
	}
}
