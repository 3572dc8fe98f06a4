package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestSweepAndCancelCommands checks the requests `payd sweep create` and
// `payd refund cancel` send, and that a missing key or flag is refused
// before any request.
func TestSweepAndCancelCommands(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Idempotency-Key")+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"sw_1","object":"sweep","status":"ready"}`)
	}))
	defer srv.Close()
	key := map[string]string{"PAYD_URL": srv.URL, "PAYD_API_KEY": "payd_test_key", "PAYD_CONFIG": ""}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantReq string // "" = no request
		wantErr string
	}{
		{"sweep to an address", key,
			[]string{"sweep", "create", "--chain", "bitcoin", "--to", "bcrt1qexample", "--min-confirmations", "6", "--max-inputs", "50", "--fee-rate", "3", "--idempotency-key", "k1"},
			`POST /v1/sweeps k1 {"chain":"bitcoin","to_address":"bcrt1qexample","min_confirmations":6,"max_inputs":50,"fee_rate":3}`, ""},
		{"sweep to a descriptor, defaults left to payd", key,
			[]string{"sweep", "create", "--chain", "bitcoin", "--to-descriptor", "wpkh(tpubX/0/*)"},
			`POST /v1/sweeps  {"chain":"bitcoin","to_descriptor":"wpkh(tpubX/0/*)"}`, ""},
		{"sweep needs --chain", key, []string{"sweep", "create", "--to", "x"}, "", `"chain" not set`},
		{"sweep needs a key", map[string]string{"PAYD_URL": srv.URL, "PAYD_API_KEY": "", "PAYD_CONFIG": ""},
			[]string{"sweep", "create", "--chain", "bitcoin", "--to", "x"}, "", "PAYD_API_KEY is not set"},
		{"cancel a sweep", key, []string{"refund", "cancel", "sw_1"}, `POST /v1/sweeps/sw_1/cancel  `, ""},
		{"cancel a refund", key, []string{"refund", "cancel", "rf_1"}, `POST /v1/refunds/rf_1/cancel  `, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			_, _, err := runCLI(t, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tc.wantReq == "" && len(got) != 0:
				t.Fatalf("sent %q, want no request", got)
			case tc.wantReq != "" && (len(got) != 1 || strings.TrimSpace(got[0]) != strings.TrimSpace(tc.wantReq)):
				t.Fatalf("sent %q, want %q", got, tc.wantReq)
			}
		})
	}
}
