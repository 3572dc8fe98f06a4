package main

import "strings"

// finding explains a goal payd misses: what its profile shows and what
// would fix it. The texts come from reading the profiles `make bench`
// captures (each figure's section of docs/benchmarks.md carries the one of
// its run); they are shown only for goals missed in the run being written.
type finding struct {
	Finding string
	Fix     string
}

// findings is keyed by row id; a row without an entry takes the one of its
// longest prefix ending before a "-" ("4-bit-push-recv" → "4-bit" → "4").
var findings = map[string]finding{
	"1": {
		Finding: "Since wave 2 each request reserves its derivation index in memory, takes its address from a 1024-deep derive-ahead cache and renders its invoice.created event outside the writer, and a batch writes each table with a few multi-row INSERTs (0.40× → 0.63–0.74× on this machine). The profile now shows the writer (store.(*DB).Write ~31 %: the multi-row inserts ~13 %, InsertEventsBulk ~4 %, the commit) and the derive-ahead goroutine (derive.(*pubChain).child ~16–18 %: one base-point multiplication per address) competing for the same 2 cores as HTTP, JSON and the bench's 32 clients; metrics.ObserveEvent takes ~4 % and the webhook fan-out ~5 %. The baseline writes one 1 KB row with 3 index entries per transaction; payd writes four rows (invoice, method, address, a ~2 KB event) with ~7 index entries per invoice, so even with the commit shared its writer does more per invoice than the baseline does per row.",
		Fix:     "(1) Derive addresses in batches with one field inversion for the whole batch (Montgomery's trick) and precompute them while idle rather than under load; (2) shrink the invoice.created row (payload written once, compressed, or rendered from the invoice's first version on read); (3) drop metrics label lookups from the per-event path (pre-resolved counters); (4) a second index-free staging table for new invoices merged in the background would cut the writer's index work, at the cost of a more complex read path.",
	},
	"1-p99": {
		Finding: "p99 (32–38 ms in quiet runs) is requests queueing behind the writer and behind the derive-ahead goroutine when it refills (1024 derivations on a busy core): a request waits for the batch in flight, then its own. Batches now wait up to 500 µs for callers already preparing, which raised the rate but not the tail.",
		Fix:     "Refill the address cache continuously in small chunks at a lower share of CPU (so it never competes with a burst), and cap a batch by time spent in the writer as well as by count.",
	},
	"1-pg": {
		Finding: "One instance is bound by latency, not CPU: payd used ~0.3–0.45 of the 2 cores and PostgreSQL ~0.25–0.35 (the figure's notes; the rest of the machine was busy with other work, load average 5–15 during these runs). An instance has one write transaction in flight (the group-commit leader on its one writer connection): a batch is BEGIN, the derivation counter, three multi-row INSERTs, the outbox lock + NOTIFY, the events INSERT and COMMIT — 8 round trips and a WAL flush — while the baseline keeps 32 one-statement transactions in flight whose WAL flushes PostgreSQL shares (one connection committing one row at a time gets 1/5–1/10 of the baseline: see the notes). On top, service.reserve takes derivation indexes in blocks of 8 (indexBlock), each block a durable commit of its own, while holding the committer's mutex: every 8 invoices every request waits for one more WAL flush, batches stay at ~8 invoices (BEGIN ≈ 0.13 per invoice in the statement counts) and active backends spend most samples in IO:WALSync. An experiment with indexBlock 64 (not committed: it changes the gap-limit advice) took one instance from 633 to 2,001 invoices/s and p50 from 42 to 14 ms in a run minutes apart (ratio 0.23× → 0.31×). Per request the API key is read from the database (1.0 statement per invoice); per batch the expirer's next deadline, the webhook endpoints and the outbox tail's read-back of the batch's events add ~4 reads, and the tail re-reads up to ~30 % of the instance's own new invoices (0–30 % from run to run) because it can see a batch's events before the committing request marks them local.",
		Fix:     "(1) Reserve derivation indexes ahead of need — the next block in the background when half of the current one is used, sized to recent demand — so that no request waits for a reservation under the committer's mutex (docs/production.md's gap-limit rule then names the larger block); (2) let an instance have more than one batch in flight on PostgreSQL (WriteConns > 1, one leader per connection) so its commits share WAL flushes as the baseline's do — useful only with the outbox change of 1-pg-two; (3) cache API keys per instance, with revocation announced by NOTIFY; (4) mark a batch's events as local before its commit rather than after.",
	},
	"1-pg-two": {
		Finding: "Per instance two instances do worse than one because they share everything else: the same 2 cores with PostgreSQL, the bench's client and the other work on the machine (`machine` ≈ 2.0 busy cores in these rounds), and in the database (a) events get their seq under a transaction-level advisory lock held to COMMIT, so the two instances' batch commits run one after the other and never share a WAL flush (Lock:advisory ~12–19 % of active-backend samples, IO:WALSync ~30–35 %), and (b) every instance read back each invoice another instance created (outbox tail → store.Invoice: invoice, methods, payments — 3 statements, ~1.1 each per invoice) only to watch its address: 6.5–6.7 statements per invoice with two instances against 2.9–3.6 with one, before the outbox tail took the addresses from the invoice.created payload (fixed here, cmd/payd createdMethods): 4.15 against 2.71 in the committed run, two instances 908 → 1,060 invoices/s in total. Found and fixed here (store, PostgreSQL only): each batch's AdvanceIndex upsert found the counter row and locked it until commit, so one instance's batch and every reservation waited for the other instance's whole transaction (Lock:transactionid on derivation_counters: 33–48 % of samples, two instances 0.78× one); the batch now writes the counter only when it is behind (it never is: the indexes were reserved and committed first) and takes no lock, and ReserveIndexes is one autocommit statement off the writer (that wait fell to ~2–3 %).",
		Fix:     "(1) done: remote invoices' addresses come from the invoice.created payload; (2) order the outbox without a lock held through COMMIT — e.g. readers stop below the oldest transaction still in flight (pg_snapshot_xmin(pg_current_snapshot()) with an xid8 column on events) — so that instances' commits overlap and share WAL flushes; (3) the reservation change of 1-pg, which is per instance and so scales; (4) measure on a host with a core per instance and one for PostgreSQL: on 2 shared cores two instances cannot double whatever the code does.",
	},
	"1-pg-scale": {
		Finding: "Two instances ran at 0.65–1.0× one instance's rate (0.84–1.0× in the loaded runs after the fix, 0.65× and, with remote invoices from the event payload, 0.69× in quiet make bench runs; 0.78× before the counter-lock fix, see 1-pg-two). What one instance is bound by (a reservation commit every 8 invoices, one transaction in flight) is per instance and would add up; what does not add up is shared: the outbox advisory lock serializes both instances' commits, each instance re-read the other's new invoices (≈ 3 statements per invoice; now from the event payload), and the two daemons, PostgreSQL and the client run on the same 2 cores as the machine's other work (≈ 2.0 busy cores in every round).",
		Fix:     "Those of 1-pg-two (an outbox cursor that does not hold a lock through COMMIT; remote invoices from the event payload is done) and 1-pg (reservations ahead of need); then re-measure on a machine with at least 4 cores.",
	},
	"2a": {
		Finding: "Both sides decode the whole block through wire.MsgBlock; payd adds the txid hash and one lookup per output in the fixed-size-key watch set (keyed by the first 8 bytes of the witness program, ~64 B per entry, which took figure 6's RSS from 377 MB to 154 MB) and re-encodes the address of each match. This run measured 1.39× against 1.27× before the watch-set change; in-process interleaved runs of the two versions measured 1.02×, so part of it is run-to-run noise.",
		Fix:     "Walk the raw bytes without building wire.MsgTx values (read varints and output scripts in place, hash only transactions with a match or a watched spend) — cheaper than the baseline itself.",
	},
	"2b": {
		Finding: "scanBlockResponse slices the hex out of the JSON (no encoding/json) and decodes it into a pooled buffer, then runs the raw scan: encoding/hex.Decode of the 3 MB hex string (~1 ns per byte) costs as much as or more than the baseline's whole deserialisation of the 1.5 MB block (compare rows 2a and 2b: the difference is the hex step), and the wire.MsgBlock allocations add GC work (scanObject, tryDeferToSpanScan in the profile). Raw scan (≈ 1–1.3×) + hex (≈ 1–1.8×) lands above the 2.0× line.",
		Fix:     "(1) A table-driven hex decoder that converts 8 input bytes per step (or splits the hex in two halves decoded on both cores) — hex decoding is ~3× faster that way; (2) the allocation-free raw walker of 2a, which removes the GC share; (3) where the node offers it (Bitcoin Core), fetch /rest/block/<hash>.bin and skip hex entirely.",
	},
	"3": {
		Finding: "See the profile: the scanner's share beyond the baseline's decode is matching and big-integer parsing of values.",
		Fix:     "Parse only values of matched transfers; keep the decoder streaming.",
	},
	"4": {
		Finding: "Latency is time spent waiting (poll timers, the webhook dispatcher's wake-up, the queue), not CPU: a CPU profile of an idle-waiting daemon shows nothing useful.",
		Fix:     "Check that the backend's websocket subscription is active (push) and that webhook.Manager.Wake is called on commit; with polling, the poll interval is the floor.",
	},
	"5": {
		Finding: "Delivery to one endpoint runs up to webhooks.endpoint_concurrency (8) requests in flight, one invoice's events one after another; per delivery payd spends CPU on the HTTP client, signing, reading the queue (ClaimWebhookDeliveries, 256 heads per claim, in the background) and recording the attempt (RecordWebhookAttempts, one transaction per 2 ms of results). With an order violation, the row fails whatever the rate: see its error.",
		Fix:     "Read the profile's webhook and store entries: a large RecordWebhookAttempts share means larger batches (recordLinger); a large ClaimWebhookDeliveries share, a larger fetchBatch; a receiver-bound run, a higher endpoint_concurrency.",
	},
	"5-timeout": {
		Finding: "The endpoint that never answers gets one request at a time (its in-flight limit falls to 1 on a timeout) and its own worker; what remains is the extra fan-out rows and the machine's other load: see the profile for where the healthy endpoint's time goes.",
		Fix:     "Check that the global webhooks.concurrency leaves endpoint_concurrency slots for the healthy endpoint, and that fan-out keeps up (FanOutWebhookEvents in the profile).",
	},
	"6-rss": {
		Finding: "The watch set keeps 1,000,000 addresses as fixed-size keys (hash or witness program, 21/33 bytes, found by a uint64 prefix; the address is encoded again on a match) at ~64 B per address instead of ~156 B for map[string]string script → address plus the address strings; startup streams the rows from SQLite in chunks into it (no []string of every address), and once every chain is loaded payd returns the peak to the OS (debug.FreeOSMemory) and keeps a soft memory limit of live + max(live/2, 64 MiB). Measured before that: in-use heap ~146–150 MB once ready, VmRSS 377–460 MB; after: in-use heap ~40–64 MB (chain/bitcoin.(*WatchSet) nearly all of it), VmRSS ~90 MB idle and ~140 MB after the creation rounds. The rest of RSS is SQLite's page caches and the creation load's garbage.",
		Fix:     "If it is missed again: look at the in-use heap profile; the watch set should be ~64 MB per 1M P2WPKH addresses (BenchmarkWatchSetMemory in chain/bitcoin).",
	},
	"6-startup": {
		Finding: "Until /readyz says ready, the watcher loads every watched address: SELECT address FROM addresses (1M rows: SQLite stepping ~50 % of the startup CPU profile) and, per address, bitcoin.(*Backend).Watch → Script → btcutil.DecodeAddress (bech32 decoding and checksum, ~16–24 %), into a map that grows by doubling (GC ~9 %). That load is sequential CPU work on one goroutine, so on a 2-core machine shared with other work it stretches further. The figure's notes give a second start in the same run (same database, OS page cache warm): the gap between the two is first reads of the 2 GB file, the rest is the CPU work above.",
		Fix:     "(1) Store the output script (or witness program) in the addresses table at creation time and load bytes straight into the watch set, no bech32 decoding at startup; (2) pre-size the map from SELECT count(*) and stream rows; (3) serve and report ready while the set loads, with the chain scan waiting only for the load to finish (blocks are rescanned from the last processed height, so nothing is missed) — or load it on both cores in two halves.",
	},
	"6-create": {
		Finding: "At 1M rows every insert touches random pages of the addresses primary key and invoice_methods(chain, address) index (random bech32 keys), while SQLite's default page cache is 2 MB, so pages come back from the OS cache through read syscalls inside the writer (see the creation profile: cgocall + Syscall6).",
		Fix:     "A larger page cache on the writer connection (PRAGMA cache_size of 64–128 MB) and time-ordered keys where possible (index addresses by derive_index, which grows monotonically).",
	},
}

func findingFor(id string) (finding, bool) {
	for k := id; k != ""; {
		if f, ok := findings[k]; ok {
			return f, true
		}
		i := strings.LastIndexByte(k, '-')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return finding{}, false
}
