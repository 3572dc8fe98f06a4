package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the command's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func signWebhook(secret string, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyWebhookSignature(t *testing.T) {
	const secret = "whsec_0123456789abcdef"
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1700000000, 0)
	// Computed independently: printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_0123456789abcdef
	const vector = "dea1657bd5053cb0f8a75ebf0bd3d22e0cdeb79563b44db6b88864e522fb8bc4"
	tests := []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		wantErr string // "" = valid
	}{
		{"openssl vector", "t=1700000000,v1=" + vector, body, now, ""},
		{"spaces and a rotated second signature", "t=1700000000, v1=" + strings.Repeat("00", 32) + ", v1=" + vector, body, now, ""},
		{"4m59s old", "t=1700000000,v1=" + vector, body, now.Add(299 * time.Second), ""},
		{"too old", "t=1700000000,v1=" + vector, body, now.Add(301 * time.Second), "old"},
		{"from the future", "t=1700000000,v1=" + vector, body, now.Add(-10 * time.Minute), "future"},
		{"altered body", "t=1700000000,v1=" + vector, []byte(`{"id":"evt_2"}`), now, "does not match"},
		{"other timestamp", "t=1700000001,v1=" + vector, body, now, "does not match"},
		{"wrong secret", signWebhook("whsec_other", 1700000000, body), body, now, "does not match"},
		{"no header", "", body, now, "no Payd-Signature"},
		{"no timestamp", "v1=" + vector, body, now, "no t="},
		{"bad timestamp", "t=abc,v1=" + vector, body, now, "not a number"},
		{"no v1", "t=1700000000,v0=" + vector, body, now, "no v1="},
		{"v1 not hex", "t=1700000000,v1=zz", body, now, "no v1="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyWebhookSignature([]byte(secret), tt.header, tt.body, tt.now, 5*time.Minute)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if got := signWebhook(secret, 1700000000, body); got != "t=1700000000,v1="+vector {
		t.Fatalf("test signer disagrees with openssl: %s", got)
	}
}

func TestWebhookListen(t *testing.T) {
	const secret = "whsec_0123456789abcdef"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	var out, errb syncBuffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"webhook", "listen", "--secret", secret, "--listen", "127.0.0.1:0", "--tolerance", "5m"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	addrRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := addrRE.FindStringSubmatch(errb.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("listen returned early: %v (%s)", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line: %q", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	body := []byte(`{"id":"evt_good","type":"invoice.settled","created_at":"2026-11-22T16:20:00Z","invoice":{"id":"inv_abc","status":"settled","sequence":4}}`)
	bad := []byte(`{"id":"evt_bad","type":"invoice.settled","created_at":"2026-11-22T16:20:00Z","invoice":{"id":"inv_abc","status":"settled","sequence":5}}`)
	now := time.Now().Unix()
	tests := []struct {
		name       string
		body       []byte
		sig        string
		wantStatus int
		wantLine   []string
	}{
		{"valid", body, signWebhook(secret, now, body), 200,
			[]string{"invoice.settled", "evt_good", "inv_abc settled seq=4", "signature ok"}},
		{"signed with another secret", bad, signWebhook("whsec_wrong_secret_123", now, bad), 400,
			[]string{"evt_bad", "BAD SIGNATURE", "does not match"}},
		{"replayed after the tolerance", body, signWebhook(secret, now-3600, body), 400,
			[]string{"evt_good", "BAD SIGNATURE", "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := out.String()
			req, _ := http.NewRequest("POST", base+"/hook", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Payd-Event-Type", "invoice.settled")
			req.Header.Set("Payd-Signature", tt.sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			line := strings.TrimPrefix(out.String(), before)
			if strings.Count(line, "\n") != 1 {
				t.Errorf("want one line, got %q", line)
			}
			for _, w := range tt.wantLine {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
		})
	}
	resp, err := http.Get(base + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("listen returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop on cancel")
	}
}

func TestWebhookListenFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"webhook", "listen", "--listen", "127.0.0.1:0"}, "--secret is missing"},
		{[]string{"webhook", "listen", "--secret", "whsec_x", "--tolerance", "0s", "--listen", "127.0.0.1:0"}, "--tolerance"},
		{[]string{"webhook", "listen", "--secret", "whsec_x", "--listen", "127.0.0.1:notaport"}, "--listen"},
	}
	for _, tt := range tests {
		_, _, err := runCLI(t, map[string]string{webhookSecretEnv: ""}, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) == 0 {
			t.Errorf("%v: err = %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}
