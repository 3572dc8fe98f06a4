package e2e

import (
	"os"
	"testing"

	"github.com/payd/payd/internal/testnode"
)

// Every test shares one PostgreSQL cluster (started on first use, removed at
// exit): TestPostgresTwoInstances, and every payd when
// PAYD_TEST_DATABASE=postgres runs the suite on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(testnode.RunWithPostgres(m.Run)) }
