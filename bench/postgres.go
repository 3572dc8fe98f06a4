package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver payd's store uses

	"github.com/payd/payd/internal/testnode"
)

// benchPostgres starts a private PostgreSQL cluster for a figure (stopped
// at the figure's end): testnode's cluster with fsync on (Durable: every
// commit reaches the disk, as in production), shared_buffers 128 MB and
// pg_stat_statements loaded, so the figure can count the statements payd
// sends per invoice. Baseline and payd run on this one cluster.
func benchPostgres(t *tb) *testnode.Postgres {
	p, err := testnode.NewPostgres(testnode.PostgresOptions{Durable: true})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(p.Stop)
	p.Shutdown()
	conf := "shared_buffers = 128MB\n" +
		"shared_preload_libraries = 'pg_stat_statements'\n" +
		"pg_stat_statements.track = top\n" +
		"pg_stat_statements.max = 1000\n"
	f, err := os.OpenFile(filepath.Join(p.Dir, "data", "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		t.Fatalf("postgres: postgresql.conf: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("postgres: restart with pg_stat_statements: %v", err)
	}
	if err := pgExec(p.URL("postgres"), `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return p
}

func pgExec(url string, qs ...string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

// postmasterPID reads the server's pid from data/postmaster.pid.
func postmasterPID(p *testnode.Postgres) int {
	b, err := os.ReadFile(filepath.Join(p.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	var pid int
	_, _ = fmt.Sscanf(string(b), "%d", &pid)
	return pid
}

// pgRawInserter is the PostgreSQL figure's baseline: the same invoice-sized
// row as figure 1's SQLite baseline (~1 KB, three secondary indexes, one of
// them partial), each INSERT its own transaction (autocommit) through a
// prepared statement, from as many concurrent workers as the HTTP figure
// has clients, each on its own connection — database/sql over pgx, the
// driver stack payd's store uses.
type pgRawInserter struct {
	db      *sql.DB
	stmt    *sql.Stmt
	desc    string
	workers int
	n       atomic.Int64
}

func newPGRawInserter(url string, workers int) (*pgRawInserter, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(workers)
	db.SetMaxIdleConns(workers)
	for _, s := range []string{
		`CREATE TABLE invoices (id TEXT PRIMARY KEY, status TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
			order_id TEXT NOT NULL, description TEXT NOT NULL, metadata TEXT, created_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL, monitor_until BIGINT NOT NULL)`,
		`CREATE INDEX invoices_status ON invoices (status, id)`,
		`CREATE INDEX invoices_order ON invoices (order_id, id) WHERE order_id <> ''`,
		`CREATE INDEX invoices_monitor ON invoices (monitor_until)`,
	} {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return nil, fmt.Errorf("baseline schema: %w", err)
		}
	}
	stmt, err := db.Prepare(`INSERT INTO invoices (id, status, amount, currency, order_id, description, metadata, created_at, expires_at, monitor_until)
		VALUES ($1, 'new', '25.00', 'USD', $2, $3, '{"customer":"42"}', $4, $5, $6)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	r := &pgRawInserter{db: db, stmt: stmt, desc: strings.Repeat("x", 850), workers: workers}
	// Open every connection (and prepare on it) before the first round.
	if _, err := r.run(200 * time.Millisecond); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *pgRawInserter) insertOne(ctx context.Context) error {
	n := r.n.Add(1)
	var id [10]byte
	_, _ = rand.Read(id[:])
	now := time.Now().Unix()
	_, err := r.stmt.ExecContext(ctx, "inv_"+hex.EncodeToString(id[:]), fmt.Sprintf("A-%d", n), r.desc, now, now+900, now+86400)
	return err
}

// run inserts from r.workers goroutines for d.
func (r *pgRawInserter) run(d time.Duration) (loadResult, error) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < r.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Since(start) < d {
				t0 := time.Now()
				if err := r.insertOne(context.Background()); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return loadResult{}, errs[0]
	}
	el := time.Since(start)
	return loadResult{Count: len(lats), Rate: float64(len(lats)) / el.Seconds(), P50: percentile(lats, 50), P99: percentile(lats, 99)}, nil
}

func (r *pgRawInserter) close() { r.stmt.Close(); r.db.Close() }

// pgStatements is what pg_stat_statements counted for one database since
// its last reset.
type pgStatements struct {
	Calls int64
	Top   []pgStatement
}

type pgStatement struct {
	Query   string
	Calls   int64
	TotalMS float64
}

// pgCounter resets and reads pg_stat_statements for one database.
type pgCounter struct {
	db     *sql.DB // on the "postgres" database (where the extension is)
	dbname string
}

func newPGCounter(p *testnode.Postgres, dbURL string) (*pgCounter, error) {
	db, err := sql.Open("pgx", p.URL("postgres"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	name := dbURL[strings.LastIndexByte(dbURL, '/')+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	return &pgCounter{db: db, dbname: name}, nil
}

func (c *pgCounter) reset() error {
	_, err := c.db.Exec(`SELECT pg_stat_statements_reset()`)
	return err
}

func (c *pgCounter) read(top int) (pgStatements, error) {
	var s pgStatements
	rows, err := c.db.Query(`SELECT query, calls, total_exec_time FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = $1 ORDER BY calls DESC`, c.dbname)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var st pgStatement
		if err := rows.Scan(&st.Query, &st.Calls, &st.TotalMS); err != nil {
			return s, err
		}
		s.Calls += st.Calls
		st.Query = shortSQL(st.Query)
		if i := slices.IndexFunc(s.Top, func(o pgStatement) bool { return o.Query == st.Query }); i >= 0 {
			s.Top[i].Calls += st.Calls
			s.Top[i].TotalMS += st.TotalMS
		} else {
			s.Top = append(s.Top, st)
		}
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	sort.SliceStable(s.Top, func(i, j int) bool { return s.Top[i].Calls > s.Top[j].Calls })
	s.Top = s.Top[:min(top, len(s.Top))]
	return s, nil
}

// sampleWaits samples pg_stat_activity every 5 ms until stop and returns,
// for the database's active backends, how often each wait (or "running" /
// "ClientRead") was seen, as shares of all samples of active backends.
func (c *pgCounter) sampleWaits(stop <-chan struct{}) map[string]float64 {
	counts := map[string]int{}
	total := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			out := map[string]float64{}
			for k, n := range counts {
				out[k] = float64(n) / float64(max(total, 1))
			}
			return out
		case <-tick.C:
		}
		rows, err := c.db.Query(`SELECT coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(query, 40) FROM pg_stat_activity
			WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()`, c.dbname)
		if err != nil {
			continue
		}
		for rows.Next() {
			var typ, ev, q string
			if rows.Scan(&typ, &ev, &q) != nil {
				continue
			}
			k := "running"
			if typ != "" {
				k = typ + ":" + ev
			}
			if typ == "Lock" {
				k += " (" + strings.TrimSpace(strings.Fields(q + " ?")[0]) + " " + lockTarget(q) + ")"
			}
			counts[k]++
			total++
		}
		rows.Close()
	}
}

// lockTarget names what a waiting statement is (its table or function).
func lockTarget(q string) string {
	q = strings.ToLower(q)
	for _, k := range []string{"pg_advisory_xact_lock", "derivation_counters", "events", "invoices", "addresses"} {
		if strings.Contains(q, k) {
			return k
		}
	}
	return "?"
}

// inTransaction reports a session of the database inside a transaction
// (idle or active); an error counts as yes.
func (c *pgCounter) inTransaction() bool {
	var n int
	if err := c.db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND xact_start IS NOT NULL`, c.dbname).Scan(&n); err != nil {
		return true
	}
	return n > 0
}

func (c *pgCounter) close() { c.db.Close() }

// shortSQL squeezes a statement's text to one line of at most 80 bytes;
// the chunk shapes of a multi-row INSERT (1, 2, 4 … 64 rows) share one text.
func shortSQL(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if i := strings.Index(q, " VALUES ("); i >= 0 {
		tail := ""
		if strings.Contains(q[i:], "), (") {
			tail = " (multi-row)"
		}
		if strings.Contains(q[i:], " ON CONFLICT") {
			tail += " ON CONFLICT …"
		}
		if j := strings.Index(q[i:], " RETURNING "); j >= 0 {
			tail += q[i+j:]
		}
		head := q[:i]
		if k := strings.IndexByte(head, '('); k >= 0 {
			head = head[:k] + "(…)"
		}
		q = head + " VALUES …" + tail
	}
	if len(q) > 80 {
		q = q[:77] + "…"
	}
	return q
}

// fmtWaits renders sampleWaits' shares, largest first.
func fmtWaits(w map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var s []kv
	for k, v := range w {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
	var parts []string
	for i, e := range s {
		if i == 6 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f %%", e.k, 100*e.v))
	}
	return strings.Join(parts, ", ")
}

func openPG(url string) (*sql.DB, error) { return sql.Open("pgx", url) }
