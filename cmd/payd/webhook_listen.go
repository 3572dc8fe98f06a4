package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// webhookSecretEnv is where `payd webhook listen` takes the secret from when
// --secret is not given (keeps it out of ps and shell history).
const webhookSecretEnv = "PAYD_WEBHOOK_SECRET"

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "webhook",
			Short: "Webhook tools",
		}
		cmd.AddCommand(webhookListenCmd())
		return cmd
	})
}

func webhookListenCmd() *cobra.Command {
	var (
		secret    string
		listen    string
		tolerance time.Duration
		showBody  bool
	)
	cmd := &cobra.Command{
		Use:   "listen --secret whsec_…",
		Short: "Receive webhooks locally, check their signatures and print them (a test receiver)",
		Long: `Runs an HTTP server that accepts payd's webhook POSTs on any path, verifies
Payd-Signature (t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>) and prints
one line per delivery: time, event type, event id, invoice id and status, and
"signature ok" or "BAD SIGNATURE". It answers 200 to a valid delivery and 400 to
an invalid one, so payd retries what failed. Stop it with Ctrl-C.`,
		Example: `  payd webhook listen --secret whsec_… --listen 127.0.0.1:9000
  # and in payd's config: webhooks: {endpoints: [{url: http://127.0.0.1:9000/hook, secret: whsec_…}]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv(webhookSecretEnv)
			}
			if secret == "" {
				return &exitError{code: 2, err: errors.New("--secret is missing; give the webhook's whsec_… secret (or set " + webhookSecretEnv + ")")}
			}
			if tolerance <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("--tolerance %s: must be positive, e.g. 5m", tolerance)}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("--listen %s: %w", listen, err)}
			}
			l := &webhookListener{secret: []byte(secret), tolerance: tolerance, now: time.Now, out: cmd.OutOrStdout(), showBody: showBody}
			srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.ErrOrStderr(), "listening on http://%s (Ctrl-C to stop)\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serve %s: %w", ln.Addr(), err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shut down: %w", err)
			}
			<-errc
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&secret, "secret", "", "the webhook's signing secret, whsec_… (default $"+webhookSecretEnv+")")
	f.StringVar(&listen, "listen", "127.0.0.1:9000", "address to listen on")
	f.DurationVar(&tolerance, "tolerance", 5*time.Minute, "reject signatures whose timestamp is further than this from now")
	f.BoolVar(&showBody, "body", false, "also print each delivery's JSON body")
	return cmd
}

// maxWebhookBody bounds what the listener reads of one delivery.
const maxWebhookBody = 1 << 20

// webhookListener is the handler of `payd webhook listen`.
type webhookListener struct {
	secret    []byte
	tolerance time.Duration
	now       func() time.Time
	showBody  bool

	mu  sync.Mutex // serialises writes to out
	out io.Writer
}

func (l *webhookListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxWebhookBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := l.now()
	verr := verifyWebhookSignature(l.secret, r.Header.Get("Payd-Signature"), body, now, l.tolerance)

	var ev struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Invoice struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Sequence int64  `json:"sequence"`
		} `json:"invoice"`
	}
	_ = json.Unmarshal(body, &ev) // printed as "-" if it is not an event
	typ := r.Header.Get("Payd-Event-Type")
	if typ == "" {
		typ = ev.Type
	}
	id := r.Header.Get("Payd-Event-Id")
	if id == "" {
		id = ev.ID
	}
	verdict := "signature ok"
	if verr != nil {
		verdict = "BAD SIGNATURE (" + verr.Error() + ")"
	}
	line := fmt.Sprintf("%s  %s  %s  %s %s seq=%d  %s\n",
		now.UTC().Format(time.RFC3339), dash(typ), dash(id), dash(ev.Invoice.ID), dash(ev.Invoice.Status), ev.Invoice.Sequence, verdict)
	l.mu.Lock()
	io.WriteString(l.out, line)
	if l.showBody {
		fmt.Fprintf(l.out, "%s\n", body)
	}
	l.mu.Unlock()

	if verr != nil {
		http.Error(w, "bad signature: "+verr.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok\n")
}

// verifyWebhookSignature checks a Payd-Signature header
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]" against body: some v1 must equal
// hex(HMAC-SHA256(secret, "<t>." + body)) and t must be within tolerance of
// now. It is a deliberately small, independent check (the webhook package
// has its own Verify; this one shows a receiver's side).
func verifyWebhookSignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return errors.New("no Payd-Signature header")
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" {
		return errors.New("no t= timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not a number", ts)
	}
	if len(sigs) == 0 {
		return errors.New("no v1= signature")
	}
	age := now.Sub(time.Unix(sec, 0))
	if age > tolerance {
		return fmt.Errorf("timestamp is %s old, more than %s", age.Truncate(time.Second), tolerance)
	}
	if age < -tolerance {
		return fmt.Errorf("timestamp is %s in the future", (-age).Truncate(time.Second))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature does not match (wrong secret or altered body)")
}
