package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

func TestDeliverSignedAndVerbatim(t *testing.T) {
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	insertEvents(t, db, 2, invoice.EventCreated) // before the endpoint: not delivered
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL+"/hook", []string{"invoice.settled", "invoice.created"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.Secret, "whsec_") || !invoice.ValidID(ep.ID, invoice.PrefixWebhook) || ep.Source != "api" {
		t.Fatalf("endpoint %+v", ep)
	}
	startManager(t, m)
	evs := insertEvents(t, db, 3, invoice.EventSettled)
	insertEvents(t, db, 1, invoice.EventExpired) // filtered out
	m.Wake()
	waitFor(t, 3*time.Second, "3 deliveries", func() bool { return len(rc.deliveries()) >= 3 })
	time.Sleep(100 * time.Millisecond)
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3 (events before the endpoint and filtered types are not sent)", len(got))
	}
	byID := map[string]delivery{}
	for _, d := range got {
		byID[d.header.Get("Payd-Event-Id")] = d
	}
	for _, ev := range evs {
		d, ok := byID[ev.ID]
		if !ok {
			t.Fatalf("event %s not delivered", ev.ID)
		}
		if string(d.body) != string(ev.Payload) {
			t.Errorf("body differs from the stored payload")
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "payd/test", "Payd-Event-Type": "invoice.settled"} {
			if d.header.Get(k) != want {
				t.Errorf("%s = %q, want %q", k, d.header.Get(k), want)
			}
		}
		sig := d.header.Get("Payd-Signature")
		if !independentVerify(ep.Secret, sig, d.body) {
			t.Errorf("independent verifier rejects %q", sig)
		}
		if !docsVerify(ep.Secret, sig, d.body, time.Now()) {
			t.Errorf("the docs' Go verifier rejects %q", sig)
		}
		if independentVerify(ep.Secret+"x", sig, d.body) {
			t.Errorf("wrong secret accepted")
		}
	}
	waitFor(t, 2*time.Second, "3 attempts recorded", func() bool {
		as, _ := m.Attempts(context.Background(), ep.ID, 10)
		return len(as) == 3
	})
	as, _ := m.Attempts(context.Background(), ep.ID, 10)
	for _, a := range as {
		if a.StatusCode != 200 || a.Error != "" || a.Attempt != 1 || a.At.IsZero() {
			t.Errorf("attempt %+v", a)
		}
	}
}

func TestRetryScheduleThenFailedThenRedeliver(t *testing.T) {
	db := openDB(t, "")
	var fail atomic.Bool
	fail.Store(true)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}
	cfg.Jitter = 0.01
	var outcomes atomic.Int32
	cfg.OnAttempt = func(outcome string, d time.Duration) {
		if outcome == "failure" {
			outcomes.Add(1)
		}
	}
	m, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	ev := insertEvents(t, db, 1, invoice.EventSettled)[0]
	m.Wake()
	waitFor(t, 3*time.Second, "3 attempts", func() bool { return len(rc.deliveries()) >= 3 })
	time.Sleep(500 * time.Millisecond) // no 4th attempt: the schedule has 2 retries
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3 (1 + 2 retries)", len(got))
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		gap := got[i+1].at.Sub(got[i].at)
		if gap < want*9/10 || gap > want+400*time.Millisecond {
			t.Errorf("retry %d after %s, want ≈%s", i+1, gap, want)
		}
	}
	if outcomes.Load() != 3 {
		t.Errorf("OnAttempt saw %d failures, want 3", outcomes.Load())
	}
	as, err := m.Attempts(context.Background(), ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 || as[0].Attempt != 3 || as[2].Attempt != 1 || as[0].StatusCode != 500 || as[0].Error == "" || as[0].EventID != ev.ID {
		t.Fatalf("attempts (newest first) %+v", as)
	}

	// failed → redeliverable
	fail.Store(false)
	if err := m.Redeliver(context.Background(), ev.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "redelivery", func() bool { return len(rc.deliveries()) == 4 })
	waitFor(t, 2*time.Second, "4th attempt recorded", func() bool {
		as, _ := m.Attempts(context.Background(), ep.ID, 1)
		return len(as) == 1 && as[0].Attempt == 4 && as[0].StatusCode == 204
	})
	if err := m.Redeliver(context.Background(), "evt_unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Redeliver(unknown) = %v, want ErrNotFound", err)
	}
	// redeliver after success sends again
	if err := m.Redeliver(context.Background(), ev.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "second redelivery", func() bool { return len(rc.deliveries()) == 5 })
}

func TestRedirectNotFollowed(t *testing.T) {
	db := openDB(t, "")
	var followed atomic.Int32
	target := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{}
	m, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	insertEvents(t, db, 1, invoice.EventSettled)
	m.Wake()
	waitFor(t, 3*time.Second, "attempt recorded", func() bool {
		as, _ := m.Attempts(context.Background(), ep.ID, 10)
		return len(as) == 1
	})
	as, _ := m.Attempts(context.Background(), ep.ID, 10)
	if as[0].StatusCode != http.StatusTemporaryRedirect || !strings.Contains(as[0].Error, "redirect") {
		t.Fatalf("attempt %+v, want a 307 failure", as[0])
	}
	if followed.Load() != 0 {
		t.Fatal("redirect was followed")
	}
}

func TestSSRFRefused(t *testing.T) {
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.AllowPrivate = false
	m, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{rc.URL, strings.Replace(rc.URL, "http://", "https://", 1), "https://localhost:1/x", "https://169.254.169.254/"} {
		_, err := m.CreateEndpoint(context.Background(), u, nil)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "url" {
			t.Errorf("CreateEndpoint(%s) = %v, want a url ValidationError", u, err)
		}
	}
	// config endpoints are checked at New
	cfg.Endpoints = []ConfigEndpoint{{URL: "https://127.0.0.1/x", Secret: "whsec_c"}}
	if _, err := New(cfg, db, testLogger(t)); err == nil {
		t.Error("New accepted a loopback config endpoint")
	}

	// at connect time: an endpoint stored by a permissive payd, delivered by
	// a strict one, is refused by the dialer.
	permissive, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := permissive.CreateEndpoint(context.Background(), rc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints = nil
	cfg.RetrySchedule = []time.Duration{}
	strict, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, strict)
	insertEvents(t, db, 1, invoice.EventSettled)
	strict.Wake()
	waitFor(t, 3*time.Second, "refused attempt", func() bool {
		as, _ := strict.Attempts(context.Background(), ep.ID, 1)
		return len(as) == 1
	})
	as, _ := strict.Attempts(context.Background(), ep.ID, 1)
	if as[0].StatusCode != 0 || !strings.Contains(as[0].Error, "private") {
		t.Fatalf("attempt %+v, want refused at connect", as[0])
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
}

func TestDeadEndpointsDoNotDelayHealthy(t *testing.T) {
	db := openDB(t, "")
	block := make(chan struct{})
	dead := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(block) }) // runs before dead.Close
	healthy := newReceiver(t, nil)
	cfg := testConfig()
	cfg.Timeout = 3 * time.Second
	cfg.RetrySchedule = []time.Duration{10 * time.Millisecond}
	m, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// three dead endpoints: one slot each, 8 in all → 5 left for healthy
	for i := range 3 {
		if _, err := m.CreateEndpoint(context.Background(), dead.URL+"/"+string(rune('a'+i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.CreateEndpoint(context.Background(), healthy.URL, nil); err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	insertEvents(t, db, 20, invoice.EventCreated)
	m.Wake()
	waitFor(t, 2*time.Second, "dead endpoints busy", func() bool { return len(dead.deliveries()) >= 3 })
	for i := range 5 {
		ev := insertEvents(t, db, 1, invoice.EventSettled)[0]
		start := time.Now()
		m.Wake()
		waitFor(t, time.Second, "healthy delivery within 1 s", func() bool {
			for _, d := range healthy.deliveries() {
				if d.header.Get("Payd-Event-Id") == ev.ID {
					return true
				}
			}
			return false
		})
		t.Logf("event %d reached the healthy endpoint after %s", i, time.Since(start))
	}
	if n := len(dead.deliveries()); n > 3 {
		t.Errorf("dead endpoints had %d requests in flight, want ≤ 3", n)
	}
}

func TestEndpointsCRUDAndConfig(t *testing.T) {
	db := openDB(t, "")
	ctx := context.Background()
	cfg := testConfig()
	cfg.Endpoints = []ConfigEndpoint{{URL: "https://shop.example/hook", Secret: "whsec_conf", Events: []string{"invoice.settled"}}}
	m, err := New(cfg, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	id := ConfigEndpointID("https://shop.example/hook")
	if !invoice.ValidID(id, invoice.PrefixWebhook) {
		t.Fatalf("config id %q is not a valid wh_ id", id)
	}
	e, err := m.Endpoint(ctx, id)
	if err != nil || e.Source != "config" || e.Secret != "" || e.Events[0] != "invoice.settled" {
		t.Fatalf("config endpoint %+v %v", e, err)
	}
	var ve *ValidationError
	if err := m.DeleteEndpoint(ctx, id); !errors.As(err, &ve) {
		t.Fatalf("DeleteEndpoint(config) = %v, want ValidationError", err)
	}
	if _, err := m.CreateEndpoint(ctx, "http://127.0.0.1:9/x", []string{"invoice.bogus"}); !errors.As(err, &ve) || ve.Field != "events" {
		t.Fatalf("bad events: %v", err)
	}
	api, err := m.CreateEndpoint(ctx, "http://127.0.0.1:9/x", []string{"invoice.settled", "*"})
	if err != nil || len(api.Events) != 1 || api.Events[0] != "*" {
		t.Fatalf("create: %+v %v", api, err)
	}
	list, err := m.Endpoints(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, e := range list {
		if e.Secret != "" {
			t.Fatal("Endpoints leaks a secret")
		}
	}
	if err := m.DeleteEndpoint(ctx, api.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteEndpoint(ctx, api.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	if _, err := m.Attempts(ctx, api.ID, 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("attempts of deleted = %v", err)
	}
	// Restart with the same URL keeps the id; dropping it from the config deletes it.
	cfg.Endpoints[0].Secret = "whsec_rotated"
	if _, err := New(cfg, db, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Endpoint(ctx, id); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints = nil
	if _, err := New(cfg, db, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Endpoint(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed config endpoint: %v", err)
	}
}
