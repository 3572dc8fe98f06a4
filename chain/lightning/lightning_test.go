package lightning

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/chain"
)

// field appends a protobuf length-delimited field.
func field(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num<<3|2))
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// macaroon builds a binary v2 macaroon whose identifier is lnd's: version
// 3 and a MacaroonId with ops (entity → actions).
func macaroon(ops map[string][]string) []byte {
	id := []byte{3}
	id = field(id, 1, []byte("nonce-0123456789"))
	id = field(id, 2, []byte("0"))
	for _, e := range []string{"address", "info", "invoices", "macaroon", "message", "offchain", "onchain", "peers", "signer"} {
		acts, ok := ops[e]
		if !ok {
			continue
		}
		op := field(nil, 1, []byte(e))
		for _, a := range acts {
			op = field(op, 2, []byte(a))
		}
		id = field(id, 3, op)
	}
	m := []byte{2}
	m = append(m, 1) // location
	m = binary.AppendUvarint(m, 3)
	m = append(m, "lnd"...)
	m = append(m, 2) // identifier
	m = binary.AppendUvarint(m, uint64(len(id)))
	m = append(m, id...)
	m = append(m, 0, 0) // end of header, end of caveats
	m = append(m, 6)    // signature
	m = binary.AppendUvarint(m, 32)
	return append(m, make([]byte, 32)...)
}

var (
	rw        = []string{"read", "write"}
	invoiceMc = map[string][]string{"address": rw, "invoices": rw, "onchain": {"read"}}
	bakedMc   = map[string][]string{"info": {"read"}, "invoices": rw, "offchain": {"read"}}
	readMc    = map[string][]string{"address": {"read"}, "info": {"read"}, "invoices": {"read"}, "macaroon": {"read"},
		"message": {"read"}, "offchain": {"read"}, "onchain": {"read"}, "peers": {"read"}, "signer": {"read"}}
	adminMc = map[string][]string{"address": rw, "info": rw, "invoices": rw, "macaroon": {"generate", "read", "write"},
		"message": rw, "offchain": rw, "onchain": rw, "peers": rw, "signer": {"generate", "read"}}
)

func TestCheckMacaroon(t *testing.T) {
	tests := []struct {
		name     string
		raw      []byte
		readOnly bool
		want     error  // nil = accepted
		msg      string // in the error
	}{
		{"invoice.macaroon", macaroon(invoiceMc), false, nil, ""},
		{"baked invoices+info+offchain read", macaroon(bakedMc), false, nil, ""},
		{"admin.macaroon", macaroon(adminMc), false, ErrMacaroonTooPowerful, "this is an admin macaroon"},
		{"readonly.macaroon as the invoice macaroon", macaroon(readMc), false, ErrMacaroonTooPowerful, "macaroon:read"},
		{"readonly.macaroon as readonly", macaroon(readMc), true, nil, ""},
		{"invoice.macaroon as readonly", macaroon(invoiceMc), true, ErrMacaroonTooPowerful, "invoices:write"},
		{"admin as readonly", macaroon(adminMc), true, ErrMacaroonTooPowerful, "offchain:write"},
		{"hex text, not the file", []byte("0201036c6e64"), false, ErrConfig, "binary v2"},
		{"empty", nil, false, ErrConfig, ""},
		{"truncated", macaroon(invoiceMc)[:10], false, ErrConfig, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckMacaroon(tt.raw, tt.readOnly)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestMacaroonOps(t *testing.T) {
	ops, err := MacaroonOps(macaroon(invoiceMc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range ops {
		got = append(got, o.String())
	}
	if want := "address:read address:write invoices:read invoices:write onchain:read"; strings.Join(got, " ") != want {
		t.Fatalf("ops = %v, want %s", got, want)
	}
}

// fakeLND is a scripted LND REST API: invoices, getinfo, channels and a
// subscription that replays settlements after settle_index and then
// pushes what the test sends.
type fakeLND struct {
	mu       sync.Mutex
	invoices []lnInvoice
	push     chan lnInvoice
	subs     []string // settle_index of each subscription
	channels string
}

func (f *fakeLND) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Grpc-Metadata-macaroon") == "" {
		http.Error(w, `{"code":2,"message":"expected 1 macaroon"}`, http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	switch r.URL.Path {
	case "/v1/getinfo":
		f.mu.Unlock()
		fmt.Fprint(w, `{"alias":"merchant","identity_pubkey":"02ab","synced_to_chain":true,"block_height":500,"chains":[{"chain":"bitcoin","network":"regtest"}]}`)
	case "/v1/channels":
		ch := f.channels
		f.mu.Unlock()
		fmt.Fprint(w, ch)
	case "/v1/invoices":
		invs := f.invoices
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"invoices": invs, "last_index_offset": fmt.Sprint(len(invs))})
	case "/v1/invoices/subscribe":
		si := r.URL.Query().Get("settle_index")
		f.subs = append(f.subs, si)
		var backlog []lnInvoice
		var n uint64
		fmt.Sscan(si, &n)
		for _, inv := range f.invoices {
			if n > 0 && inv.State == "SETTLED" && uint64(inv.SettleIndex) > n {
				backlog = append(backlog, inv)
			}
		}
		f.mu.Unlock()
		// Like lnd's REST proxy: nothing (not even headers) until a message.
		enc := json.NewEncoder(w)
		for _, inv := range backlog {
			_ = enc.Encode(map[string]any{"result": inv})
			w.(http.Flusher).Flush()
		}
		for {
			select {
			case <-r.Context().Done():
				return
			case inv, ok := <-f.push:
				if !ok {
					return
				}
				_ = enc.Encode(map[string]any{"result": inv})
				w.(http.Flusher).Flush()
			}
		}
	default:
		f.mu.Unlock()
		http.NotFound(w, r)
	}
}

func settledInv(settle uint64, req string, msat uint64) lnInvoice {
	h := make([]byte, 32)
	h[0] = byte(settle)
	return lnInvoice{RHash: h, PaymentRequest: req, State: "SETTLED", SettleIndex: u64(settle), AddIndex: u64(settle),
		AmtPaidMsat: u64(msat), SettleDate: u64(1700000000 + settle)}
}

func newFake(t *testing.T, f *fakeLND) *Backend {
	t.Helper()
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cert := filepath.Join(dir, "tls.cert")
	mac := filepath.Join(dir, "invoice.macaroon")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mac, macaroon(bakedMc), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Name: "lightning", Network: "regtest", RESTURL: srv.URL, TLSCertPath: cert, MacaroonPath: mac,
		PollInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRun follows the settle index: a first start connects the node's
// current index and reports what settles next; a restart from a cursor gets
// LND's replay of what settled meanwhile; only watched payment requests
// carry a transfer.
func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		existing []lnInvoice
		recent   []chain.BlockRef
		push     []lnInvoice
		// want: height → payment request of its transfer ("" = none)
		want      []string
		wantSub   string
		firstTip  uint64
		firstConn bool
	}{
		{
			name:     "first start connects the current settle index, then follows",
			existing: []lnInvoice{settledInv(1, "lnbcrt1other", 1000), settledInv(2, "lnbcrt1other2", 1000)},
			push:     []lnInvoice{settledInv(3, "lnbcrt1ours", 50_000_500)},
			want:     []string{"2:", "3:lnbcrt1ours"}, wantSub: "2",
		},
		{
			name:     "restart from a cursor: lnd replays what settled while payd was down",
			existing: []lnInvoice{settledInv(1, "lnbcrt1a", 1000), settledInv(2, "lnbcrt1ours", 50_000_000), settledInv(3, "lnbcrt1b", 1000)},
			recent:   []chain.BlockRef{ref(1, time.Time{})},
			want:     []string{"2:lnbcrt1ours", "3:"}, wantSub: "1",
		},
		{
			name:     "cursor 0: lnd replays nothing, the list catches up",
			existing: []lnInvoice{settledInv(1, "lnbcrt1ours", 50_000_000), {State: "OPEN", AddIndex: 2, PaymentRequest: "lnbcrt1open"}},
			recent:   []chain.BlockRef{ref(0, time.Time{})},
			want:     []string{"1:lnbcrt1ours"}, wantSub: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLND{invoices: tt.existing, push: make(chan lnInvoice, len(tt.push)),
				channels: `{"channels":[{"active":true,"remote_balance":"900000","local_balance":"100000","remote_constraints":{"chan_reserve_sat":"10000"}}]}`}
			b := newFake(t, f)
			b.Watch("lnbcrt1ours")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan chain.Event)
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx, tt.recent, out) }()
			for _, p := range tt.push {
				f.push <- p
			}
			var got []string
			for len(got) < len(tt.want) {
				ev := <-out
				s := fmt.Sprintf("%d:", ev.Block.Height)
				for _, tr := range ev.Transfers {
					s += tr.Address
					if tr.Amount.Int64() != 50_000 || tr.TxID != fmt.Sprintf("%02x%062d", ev.Block.Height, 0) || tr.Block.Height != ev.Block.Height {
						t.Fatalf("transfer %+v", tr)
					}
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
			// The subscription counts as open once written; the fake
			// records it when its handler runs.
			var subs []string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				f.mu.Lock()
				subs = f.subs
				f.mu.Unlock()
				if len(subs) > 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(subs) != 1 || subs[0] != tt.wantSub {
				t.Fatalf("subscriptions %q, want one with settle_index %q", subs, tt.wantSub)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStatus maps the node's health to readiness reasons.
func TestStatus(t *testing.T) {
	tests := []struct {
		name, channels, reason string
	}{
		{"ready", `{"channels":[{"active":true,"remote_balance":"500000"}]}`, ""},
		{"no channels", `{"channels":[]}`, "lnd has no active channels"},
		{"no inbound", `{"channels":[{"active":true,"remote_balance":"0","local_balance":"100000"}]}`, "no inbound capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake(t, &fakeLND{channels: tt.channels})
			reason := b.health(context.Background())
			if (tt.reason == "") != (reason == "") || !strings.Contains(reason, tt.reason) {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if st := b.Status(); st.Ready || st.Reason == "" {
				t.Fatalf("status %+v: not ready before the subscription is up", st)
			}
		})
	}
}

func TestCreateInvoiceRequest(t *testing.T) {
	var got map[string]any
	srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		fmt.Fprintf(w, `{"r_hash":%q,"payment_request":"lnbcrt500u1x","add_index":"7"}`, base64.StdEncoding.EncodeToString(make([]byte, 32)))
	})
	f := &fakeLND{}
	b := newFake(t, f)
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	b.c.base = ts.URL
	b.c.http = ts.Client()
	inv, err := b.CreateInvoice(context.Background(), bigInt(50_000), "2 × T-shirt", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if inv.PaymentRequest != "lnbcrt500u1x" || inv.AddIndex != 7 || inv.PaymentHash != strings.Repeat("0", 64) {
		t.Fatalf("invoice %+v", inv)
	}
	if got["value_msat"] != "50000000" || got["expiry"] != "900" || got["memo"] != "2 × T-shirt" {
		t.Fatalf("request %v", got)
	}
}

func bigInt(v int64) *big.Int { return big.NewInt(v) }
