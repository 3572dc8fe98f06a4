package e2e

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"

	_ "github.com/jackc/pgx/v5/stdlib" // reads the lease table
)

// Two payd run on one PostgreSQL database with btcd regtest and anvil:
// invoices created through both are paid and settled, each invoice.settled
// is delivered at least once and every invoice settles once; then the
// instance leading bitcoin is killed with SIGKILL and the other takes over
// within the lease time, losing nothing.
func TestPostgresTwoInstances(t *testing.T) {
	pg := testnode.StartPostgres(t)
	url := pg.NewDatabase(t)
	stack := testnode.StartStack(t)
	hooks := newHookReceiver(t)
	a := newEnv(t, stack, testnode.PaydOptions{PostgresURL: url, ExtraYAML: hooks.yaml()})
	b := newEnv(t, stack, testnode.PaydOptions{PostgresURL: url, ExtraYAML: hooks.yaml(),
		BTCKey: a.payd.BTCKey, EVMKey: a.payd.EVMKey, APIKey: a.payd.APIKey})
	envs := []*env{a, b}
	btc := []string{"bitcoin/btc"}

	round := func(t *testing.T, through []*env) []string {
		var ids []string
		var views []*invoice.View
		for i := 0; i < 6; i++ {
			e := through[i%len(through)].sub(t)
			v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: btc})
			for _, w := range views {
				if method(t, w, "bitcoin/btc").Address == method(t, v, "bitcoin/btc").Address {
					t.Fatalf("address %s handed to two invoices", method(t, v, "bitcoin/btc").Address)
				}
			}
			views = append(views, v)
			e.payBTC(v, 100_000)
			ids = append(ids, v.ID)
		}
		stack.BTC.Generate(1)
		for i, id := range ids {
			// Read through the other instance than the one that created it.
			through[(i+1)%len(through)].sub(t).wait(id, invoice.StatusSettled, "", 30*time.Second)
		}
		return ids
	}
	settledIDs := func(e *env, ids []string) []string {
		var out []string
		for _, ev := range e.allEvents() {
			if ev.Type == invoice.EventSettled && slices.Contains(ids, ev.Invoice.ID) {
				out = append(out, ev.ID)
			}
		}
		return out
	}
	checkDelivered := func(t *testing.T, e *env, ids []string) {
		settled := settledIDs(e, ids)
		if len(settled) != len(ids) {
			t.Fatalf("%d invoice.settled events for %d invoices (never two settlements)", len(settled), len(ids))
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			missing, _ := hooks.missing(settled)
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("invoice.settled not delivered: %v\n%s\n%s", missing, a.payd.Tail(20), b.payd.Tail(20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var all []string
	t.Run("created through both, settled once, delivered", func(t *testing.T) {
		ids := round(t, envs)
		all = append(all, ids...)
		checkDelivered(t, a.sub(t), ids)
	})

	t.Run("kill -9 of the leader: the other takes over", func(t *testing.T) {
		leader, other := a, b
		if !leads(t, url, a.payd, "watcher:bitcoin") {
			leader, other = b, a
		}
		if !leads(t, url, leader.payd, "watcher:bitcoin") {
			t.Fatal("neither instance leads bitcoin")
		}
		leader.payd.Kill()
		start := time.Now()
		ids := round(t, []*env{other})
		t.Logf("settled through the survivor %s after the leader's kill -9 (lease ttl 10s)", time.Since(start).Round(time.Millisecond))
		if !leads(t, url, other.payd, "watcher:bitcoin") {
			t.Fatal("the survivor does not lead bitcoin")
		}
		all = append(all, ids...)
		checkDelivered(t, other.sub(t), all)
		leader.payd.Start()
	})
}

// leads reports whether p holds lease name now, from the lease table (the
// holder id carries the process id).
func leads(t *testing.T, url string, p *testnode.Payd, name string) bool {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var holder string
	var exp int64
	if err := db.QueryRow(`SELECT holder, expires_at FROM leases WHERE name = $1`, name).Scan(&holder, &exp); err != nil {
		t.Fatalf("lease %s: %v", name, err)
	}
	return strings.Contains(holder, fmt.Sprintf("-%d-", p.PID())) && time.UnixMilli(exp).After(time.Now())
}
