package main

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/payd/payd/invoice"
)

// figScale is figure 6: payd with 1,000,000 open invoices in its database —
// RSS, startup until ready, database size, and the invoice creation rate
// against the same daemon configuration on an empty database.
func figScale(e *env, f *Figure) {
	t := curTB
	bin := e.paydBin()
	btc := e.btcd()
	n := 1_000_000
	if e.quick {
		n = 100_000
	}
	const clients = 32
	cfg := daemonCfg{BTC: btc, BTCWS: true}
	full := newDaemon(e, t, "fig6-full", cfg, bin)
	empty := newDaemon(e, t, "fig6-empty", cfg, bin)
	dbPath := filepath.Join(filepath.Dir(full.cfgPath), "payd.db")

	// One real invoice through the API is the template of every row.
	full.start(t)
	tmpl := full.mustCreate(t, string(createBody(0)))
	full.stop()
	t0 := time.Now()
	if err := fillInvoices(dbPath, tmpl.ID, n); err != nil {
		t.Fatalf("fill: %v", err)
	}
	fill := time.Since(t0)
	size := dbSize(dbPath)
	slog.Info("filled", "invoices", n, "seconds", fill.Seconds(), "mb", float64(size)/1e6)

	full.start(t)
	startup := full.Startup
	rssIdle := full.rssMB()
	empty.start(t)
	// Warm both (connections, rate cache, pages).
	createLoad(full, clients, e.scale(time.Second), createBody)
	createLoad(empty, clients, e.scale(time.Second), createBody)
	pairs := min(e.pairs, 3)
	d := e.scale(3 * time.Second)
	var a, b, p99f, p99e []float64
	for i := 0; i < pairs; i++ {
		rf := createLoad(full, clients, d, createBody)
		re := createLoad(empty, clients, d, createBody)
		a, b = append(a, rf.Rate), append(b, re.Rate)
		p99f, p99e = append(p99f, ms(rf.P99)), append(p99e, ms(re.P99))
	}
	rssLoaded := full.rssMB()
	rssEmpty := empty.rssMB()
	// Restart once more: the second startup finds the pages in the OS cache.
	full.stop()
	full.start(t)
	startup2 := full.Startup
	rss := max(rssIdle, rssLoaded)
	r := median(ratios(a, b))
	f.Rows = append(f.Rows,
		Row{Figure: "6-rss", Name: fmt.Sprintf("RSS of the running daemon with %s open invoices (max of idle after start and after the creation rounds)", commas(fmt.Sprint(n))), Payd: rss, Unit: "MB", Goal: "< 300 MB", Met: met(rss < 300)},
		Row{Figure: "6-startup", Name: "Startup: exec → /readyz 200 (first start after the fill)", Payd: startup.Seconds(), Unit: "s", Goal: "< 10 s", Met: met(startup < 10*time.Second)},
		Row{Figure: "6-size", Name: fmt.Sprintf("Database size (%.0f B per invoice)", float64(size)/float64(n)), Payd: float64(size) / 1e6, Unit: "MB", Goal: "(reported)"},
		Row{Figure: "6-create", Name: "Invoice creation, 32 clients, 1M-invoice DB (baseline: same on an empty DB)", Payd: median(a), Baseline: median(b), Unit: "invoices/s", Ratio: r, Goal: "≥ 0.8× baseline", Met: met(r >= 0.8)},
	)
	f.value("fill_seconds", fill.Seconds())
	f.value("startup_second_s", startup2.Seconds())
	f.value("rss_idle_mb", rssIdle)
	f.value("rss_after_load_mb", rssLoaded)
	f.value("rss_empty_db_mb", rssEmpty)
	f.value("p99_full_ms", median(p99f))
	f.value("p99_empty_ms", median(p99e))
	f.note("Fill: one invoice is created through the API (the template: USD 25.00, method bitcoin/btc, its invoice.created event), payd is stopped, and the bench inserts %s copies straight into payd's SQLite tables (invoices, invoice_methods, addresses, events) in 20,000-row transactions — each with a fresh time-ordered id, its own valid regtest P2WPKH address and derivation index; derivation_counters is moved past them. Every invoice is open (status new, expires in 24 h), so every address is watched. Fill took %.0f s.", commas(fmt.Sprint(n)), fill.Seconds())
	f.note("Then the real `payd run` (btcd regtest, websocket) is started on that database: startup = exec until /readyz answers 200 (%.2f s; a second restart after the runs: %.2f s). RSS = VmRSS from /proc: %.0f MB idle after start, %.0f MB after the creation rounds (a daemon on an empty database: %.0f MB). Database size = payd.db + -wal + -shm after a checkpoint.", startup.Seconds(), startup2.Seconds(), rssIdle, rssLoaded, rssEmpty)
	f.note("Creation: %d keep-alive clients, %s rounds, %d pairs interleaved between the 1M-invoice daemon and one on an empty database (same config, both running); p99 %.1f ms vs %.1f ms.", clients, d, pairs, median(p99f), median(p99e))
}

func dbSize(path string) int64 {
	var total int64
	for _, s := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(path + s); err == nil {
			total += st.Size()
		}
	}
	return total
}

// fillInvoices copies invoice tmpl (and its methods, address and events) n
// times into the database at path, with fresh ids and addresses.
func fillInvoices(path, tmpl string, n int) error {
	db, err := sql.Open("sqlite3", sqliteDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA synchronous = OFF`); err != nil {
		return err
	}
	type table struct {
		name, key string
		cols      []string
		vals      []any
		stmt      *sql.Stmt
	}
	tables := []*table{{name: "invoices", key: "id"}, {name: "invoice_methods", key: "invoice_id"}, {name: "addresses", key: "invoice_id"}, {name: "events", key: "invoice_id"}}
	for _, tb := range tables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %s WHERE %s = ? LIMIT 1`, tb.name, tb.key), tmpl)
		if err != nil {
			return err
		}
		tb.cols, _ = rows.Columns()
		if !rows.Next() {
			rows.Close()
			return fmt.Errorf("template invoice %s has no row in %s", tmpl, tb.name)
		}
		tb.vals = make([]any, len(tb.cols))
		ptrs := make([]any, len(tb.cols))
		for i := range ptrs {
			ptrs[i] = &tb.vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
		cols := tb.cols
		if tb.name == "events" { // seq is the rowid: let SQLite assign it
			cols = cols[1:]
			tb.vals = tb.vals[1:]
		}
		tb.cols = cols
		q := fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`, tb.name, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
		if tb.stmt, err = db.Prepare(q); err != nil {
			return err
		}
		defer tb.stmt.Close()
	}
	var next int64
	if err := db.QueryRow(`SELECT next_index FROM derivation_counters WHERE chain = 'bitcoin'`).Scan(&next); err != nil {
		return fmt.Errorf("derivation counter: %w", err)
	}
	params := &chaincfg.RegressionNetParams
	base := time.Now().Add(-time.Hour)
	const batch = 20_000
	var h [20]byte
	for done := 0; done < n; {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		for j := 0; j < batch && done < n; j++ {
			id := invoice.NewID(invoice.PrefixInvoice, base.Add(time.Duration(done)*time.Millisecond))
			_, _ = rand.Read(h[:])
			a, err := btcutil.NewAddressWitnessPubKeyHash(h[:], params)
			if err != nil {
				tx.Rollback()
				return err
			}
			addr := a.EncodeAddress()
			idx := next + int64(done)
			for _, tb := range tables {
				vals := make([]any, len(tb.vals))
				copy(vals, tb.vals)
				for i, c := range tb.cols {
					switch {
					case c == tb.key, tb.name == "events" && c == "invoice_id":
						vals[i] = id
					case c == "address":
						vals[i] = addr
					case c == "derive_index":
						vals[i] = idx
					case c == "order_id":
						vals[i] = fmt.Sprintf("F-%d", done)
					case tb.name == "events" && c == "id":
						vals[i] = invoice.NewID(invoice.PrefixEvent, base.Add(time.Duration(done)*time.Millisecond))
					}
				}
				if _, err := tx.Stmt(tb.stmt).Exec(vals...); err != nil {
					tx.Rollback()
					return fmt.Errorf("insert %s: %w", tb.name, err)
				}
			}
			done++
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if _, err := db.Exec(`UPDATE derivation_counters SET next_index = ? WHERE chain = 'bitcoin'`, next+int64(n)); err != nil {
		return err
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
