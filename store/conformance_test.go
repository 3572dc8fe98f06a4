package store

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/payd/payd/internal/testnode"
)

// The store conformance suite: every test below runs against SQLite (as a
// top-level test) and again against PostgreSQL (as a subtest of
// TestPostgres, where openTest hands out a fresh PostgreSQL database on the
// package's private cluster). Tests of SQLite's own machinery (pragmas, the
// lock file, query plans, VACUUM INTO, kill -9 of the single writer) stay
// SQLite-only; PostgreSQL's own behaviour is tested in postgres_test.go.

func TestMain(m *testing.M) { os.Exit(testnode.RunWithPostgres(m.Run)) }

var conformance = []struct {
	name string
	test func(*testing.T)
}{
	{"MigrateIdempotentAndTooNewRefused", TestMigrateIdempotentAndTooNewRefused},
	{"InvoiceRoundTrip", TestInvoiceRoundTrip},
	{"AddressNeverHandedOutTwice", TestAddressNeverHandedOutTwice},
	{"NextIndexMonotonic", TestNextIndexMonotonic},
	{"ListInvoicesAndDeadlines", TestListInvoicesAndDeadlines},
	{"BulkInsertMatchesOneByOne", TestBulkInsertMatchesOneByOne},
	{"AdvanceIndexNeverMovesBack", TestAdvanceIndexNeverMovesBack},
	{"SearchInvoices", TestSearchInvoices},
	{"ReceivedByMethodExact", TestReceivedByMethodExact},
	{"AdminLockoutAndSessions", TestAdminLockoutAndSessions},
	{"AddressGap", TestAddressGap},
	{"LinkLifecycle", TestLinkLifecycle},
	{"UseLinkGone", TestUseLinkGone},
	{"UseLinkConcurrent", TestUseLinkConcurrent},
	{"EachWatchedAddress", TestEachWatchedAddress},
	{"LeaseTakeoverAndFence", TestLeaseTakeoverAndFence},
	{"SweepTransfersRoundTrip", TestSweepTransfersRoundTrip},
	{"WebhookClaimsExclusive", TestWebhookClaimsExclusive},
	{"WebhookClaimsConcurrent", TestWebhookClaimsConcurrent},
	{"WebhookClaimExpiryAndFence", TestWebhookClaimExpiryAndFence},
	{"WebhookClaimsKeepInvoiceOrder", TestWebhookClaimsKeepInvoiceOrder},
	{"WebhookFanOutTwice", TestWebhookFanOutTwice},
	{"WebhookRequeueTwice", TestWebhookRequeueTwice},
}

func TestPostgres(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, c.test)
	}
}

func onPostgres(t *testing.T) bool { return strings.HasPrefix(t.Name(), "TestPostgres/") }

// openPostgresTest opens a migrated store on a fresh database of the
// package's cluster.
func openPostgresTest(t *testing.T) *DB {
	t.Helper()
	return openPostgresURL(t, testnode.StartPostgres(t).NewDatabase(t))
}

func openPostgresURL(t *testing.T, url string) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := OpenPostgres(ctx, url, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
