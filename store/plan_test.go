package store

import (
	"context"
	"strings"
	"testing"
)

// TestDeadlineQueriesUseIndexes checks with EXPLAIN QUERY PLAN that the
// expirer's queries (the store's own SQL text) are served by the partial indexes (a full scan of
// invoices would make every deadline lookup O(invoices)).
func TestDeadlineQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	tests := []struct {
		query, index string
	}{
		{nextDeadlineSQL, "invoices_new_expiry"},
		{nextDeadlineSQL, "invoices_processing_monitor"},
		{strings.ReplaceAll(dueInvoicesSQL, "?", "5"), "invoices_new_expiry"},
		{strings.ReplaceAll(dueInvoicesSQL, "?", "5"), "invoices_processing_monitor"},
	}
	for _, tt := range tests {
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, tt.index) {
			t.Errorf("%s: plan %q does not use %s", tt.query, p, tt.index)
		}
	}
}
