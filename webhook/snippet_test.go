package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// TestFailedAttemptKeepsResponseSnippet: a failed attempt's error carries the
// start of the receiver's answer (at most responseSnippet bytes), so the
// merchant can see why in the dashboard.
func TestFailedAttemptKeepsResponseSnippet(t *testing.T) {
	db := openDB(t, "")
	long := "order 42 unknown: " + strings.Repeat("é", 300)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(long))
	})
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	insertEvents(t, db, 1, invoice.EventSettled)
	m.Wake()
	var as []Attempt
	waitFor(t, 3*time.Second, "an attempt", func() bool {
		as, _ = m.Attempts(context.Background(), ep.ID, 10)
		return len(as) > 0
	})
	e := as[len(as)-1].Error
	if !strings.HasPrefix(e, "status 422: order 42 unknown: é") || len(e) > len("status 422: ")+responseSnippet {
		t.Fatalf("attempt error %q (%d bytes)", e, len(e))
	}
	if !strings.ContainsRune(e, 'é') || strings.ContainsRune(e, '\uFFFD') {
		t.Errorf("snippet is not valid UTF-8 text: %q", e)
	}
}

// TestSendTest: a signed webhook.test event reaches the endpoint at once and
// leaves nothing in the outbox.
func TestSendTest(t *testing.T) {
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL+"/hook", []string{"invoice.settled"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.SendTest(context.Background(), ep.ID)
	if err != nil || a.StatusCode != 200 || a.Error != "" {
		t.Fatalf("SendTest: %+v %v", a, err)
	}
	ds := rc.deliveries()
	if len(ds) != 1 || ds[0].header.Get("Payd-Event-Type") != TestEventType || !independentVerify(ep.Secret, ds[0].header.Get("Payd-Signature"), ds[0].body) ||
		!strings.Contains(string(ds[0].body), `"type":"webhook.test"`) {
		t.Fatalf("deliveries %+v", ds)
	}
	if as, _ := m.Attempts(context.Background(), ep.ID, 10); len(as) != 0 {
		t.Errorf("the test event was recorded: %+v", as)
	}
	if _, err := m.SendTest(context.Background(), "wh_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
}

// TestRotateSecret: after a rotation deliveries are signed with the new
// secret only; config endpoints refuse it.
func TestRotateSecret(t *testing.T) {
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	insertEvents(t, db, 1, invoice.EventSettled)
	m.Wake()
	waitFor(t, 3*time.Second, "first delivery", func() bool { return len(rc.deliveries()) == 1 })
	rot, err := m.RotateSecret(context.Background(), ep.ID)
	if err != nil || rot.Secret == ep.Secret || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	insertEvents(t, db, 1, invoice.EventSettled)
	m.Wake()
	waitFor(t, 5*time.Second, "delivery after the rotation", func() bool { return len(rc.deliveries()) >= 2 })
	d := rc.deliveries()[len(rc.deliveries())-1]
	sig := d.header.Get("Payd-Signature")
	if !independentVerify(rot.Secret, sig, d.body) || independentVerify(ep.Secret, sig, d.body) {
		t.Errorf("the delivery after the rotation is not signed with the new secret only")
	}
	if _, err := m.RotateSecret(context.Background(), "wh_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
}

func TestDisableEndpoint(t *testing.T) {
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ep, err := m.CreateEndpoint(ctx, rc.URL+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	if got, err := m.SetDisabled(ctx, ep.ID, true); err != nil || !got.Disabled {
		t.Fatalf("disable: %+v %v", got, err)
	}
	if eps, _ := m.Endpoints(ctx); len(eps) != 1 || !eps[0].Disabled {
		t.Fatalf("listed after disable: %+v", eps)
	}
	whileOff := insertEvents(t, db, 1, invoice.EventSettled)[0]
	m.Wake()
	if _, err := m.SetDisabled(ctx, ep.ID, false); err != nil {
		t.Fatal(err)
	}
	after := insertEvents(t, db, 1, invoice.EventSettled)[0]
	m.Wake()
	// Events fan out in seq order: once the later one has arrived, the one
	// committed while the endpoint was disabled has been passed over for good.
	waitFor(t, 5*time.Second, "the delivery after enabling", func() bool {
		for _, d := range rc.deliveries() {
			if strings.Contains(string(d.body), after.ID) {
				return true
			}
		}
		return false
	})
	for _, d := range rc.deliveries() {
		if strings.Contains(string(d.body), whileOff.ID) {
			t.Errorf("event %s committed while the endpoint was disabled was delivered", whileOff.ID)
		}
	}
	cfgEP := "wh_nope"
	if _, err := m.SetDisabled(ctx, cfgEP, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
}
