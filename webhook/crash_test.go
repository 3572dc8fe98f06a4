package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

const (
	crashEvents = 200
	crashSecret = "whsec_crash"
)

// TestCrashDeliversEveryEvent is issue 8's crash test: a child process (this
// test binary, re-executed) produces 200 events over time and delivers them
// with a Manager; the parent's receiver flaps between 500 and 200 every
// 150 ms; the parent kills the child with SIGKILL at random moments six
// times, restarting it each time, and finally checks that every event was
// received (with a valid signature) at least once.
func TestCrashDeliversEveryEvent(t *testing.T) {
	if path := os.Getenv("PAYD_WEBHOOK_CRASH_CHILD"); path != "" {
		crashChild(path, os.Getenv("PAYD_WEBHOOK_CRASH_URL"))
		return
	}
	path := filepath.Join(t.TempDir(), "payd.db")
	var mu sync.Mutex
	received := map[string]int{}
	var oks, fails, badSigs int
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !independentVerify(crashSecret, r.Header.Get("Payd-Signature"), body) {
			badSigs++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if time.Now().UnixMilli()/150%2 == 0 {
			fails++
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		oks++
		received[r.Header.Get("Payd-Event-Id")]++
		w.WriteHeader(http.StatusOK)
	}))
	defer rc.Close()

	// start runs a child and returns once it is delivering (or after 10 s).
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashDeliversEveryEvent$")
		cmd.Env = append(os.Environ(), "PAYD_WEBHOOK_CRASH_CHILD="+path, "PAYD_WEBHOOK_CRASH_URL="+rc.URL+"/hook")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !out.contains("running") && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		return cmd, out
	}
	const kills = 6
	for i := range kills {
		cmd, out := start()
		time.Sleep(time.Duration(50+rand.IntN(450)) * time.Millisecond) // a random moment
		if err := cmd.Process.Kill(); err != nil {                      // SIGKILL
			t.Fatal(err)
		}
		_ = cmd.Wait()
		mu.Lock()
		t.Logf("kill %d: %d distinct events received so far", i+1, len(received))
		mu.Unlock()
		if out.contains("child error") {
			t.Fatalf("child: %s", out.String())
		}
	}
	cmd, out := start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= crashEvents {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("only %d of %d events received after 60 s; child output:\n%s", n, crashEvents, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	db := openDB(t, path)
	evs, err := db.EventsAfter(context.Background(), 0, 10*crashEvents)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != crashEvents {
		t.Fatalf("%d events in the database, want %d", len(evs), crashEvents)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs {
		if received[ev.ID] == 0 {
			t.Errorf("event %s never received", ev.ID)
		}
	}
	if len(received) != crashEvents {
		t.Errorf("received %d distinct ids, want %d", len(received), crashEvents)
	}
	if badSigs > 0 {
		t.Errorf("%d requests with a bad signature", badSigs)
	}
	t.Logf("%d kills; %d events all received; %d successful deliveries, %d duplicates, %d answered 500",
		kills, len(received), oks, oks-len(received), fails)
}

// crashChild opens the database, runs a Manager delivering to url, and
// commits events (one per transaction, ~10 ms apart) until there are
// crashEvents in all; then it keeps delivering until killed.
func crashChild(path, url string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Println("child error", err)
		os.Exit(1)
	}
	db, err := store.Open(ctx, path, store.Options{Exclusive: true})
	if err != nil {
		fail(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		fail(err)
	}
	sched := make([]time.Duration, 40)
	for i := range sched {
		sched[i] = 100 * time.Millisecond
	}
	m, err := New(Config{Timeout: 2 * time.Second, RetrySchedule: sched, AllowPrivate: true, UserAgent: "payd/crash",
		Endpoints: []ConfigEndpoint{{URL: url, Secret: crashSecret}}}, db, nil)
	if err != nil {
		fail(err)
	}
	go func() {
		if err := m.Run(ctx); err != nil {
			fail(err)
		}
	}()
	fmt.Println("running")
	have, err := db.LastEventSeq(ctx)
	if err != nil {
		fail(err)
	}
	for i := int(have); i < crashEvents; i++ {
		ev, err := newEvent(invoice.EventTypes[i%len(invoice.EventTypes)])
		if err != nil {
			fail(err)
		}
		if err := db.Write(ctx, func(tx *store.Tx) error { return tx.InsertEvents(ctx, []invoice.Event{ev}) }); err != nil {
			fail(err)
		}
		m.Wake()
		fmt.Println("inserted " + strconv.Itoa(i+1))
		time.Sleep(10 * time.Millisecond)
	}
	select {}
}

// syncBuffer is a bytes.Buffer safe for a child's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.b.Bytes(), []byte(sub))
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
