// Package evm is payd's chain.Backend for EVM chains (Ethereum, Polygon, any
// chain with the standard eth_* JSON-RPC). One Backend follows one chain on
// one node; payd runs as many as it has chains configured.
//
// What it owns:
//   - Check: eth_chainId must equal Config.ChainID and every token's
//     decimals() its configured decimals; mismatches are *CheckError naming the
//     configuration key ("chains.polygon.chain_id: node reports 137, config
//     says 1").
//   - Heads: a websocket newHeads subscription when Config.WSURL is set, used
//     only as a wake-up; while it is down (reconnecting with backoff) and when
//     there is no websocket, the tip is polled over HTTP every PollInterval.
//     What to connect or disconnect is decided by chain.Tracker from parent
//     hashes (eth_getBlockByNumber(h, false)), never by height alone.
//   - Native coin: each connected block is fetched by hash with its
//     transactions (eth_getBlockByHash(hash, true)); a transaction whose "to"
//     is watched and whose value is non-zero counts if its receipt has status
//     1 (receipts are fetched, in one batch, only for matching transactions).
//   - Tokens: Transfer logs of the configured contracts (eth_getLogs filtered
//     by contract and the Transfer topic, never by watched address: the "to"
//     topic is matched in memory). A block whose logs bloom rules the tokens
//     out costs no query. While catching up, logs are fetched for a range of
//     blocks (up to MaxLogRange) and kept by block hash; a range the node
//     refuses is split in halves. Transfer.Index is the log index.
//   - Events: BlockConnected for every block, with its transfers in block
//     order (a transaction's native value before its logs); BlockDisconnected,
//     tip first, down to the fork point on a reorg. Run resumes after the
//     last block of recent, so blocks mined while payd was down are processed.
//   - Finality: where the node has the "finalized" block tag, a reorg that
//     would disconnect a block at or below it is not followed (the node
//     contradicts itself): the backend stays not ready with the reason until
//     the node agrees with itself again.
//   - Status: Ready with TipHeight and Processed; not ready with a reason
//     while the node is unreachable, answers garbage or does not match the
//     configuration. Such faults are logged at Warn and retried with backoff;
//     a block is never skipped.
//
// What it does not do:
//   - Value sent by a contract (an "internal transaction", e.g. a multisig or
//     exchange hot wallet paying out) is NOT seen unless Config.TraceInternal
//     is on, which asks debug_traceBlockByHash with the callTracer for every
//     block (the node must expose the debug API). Such transfers get
//     Transfer.Index = InternalIndexBase + their ordinal in the transaction.
//   - No mempool: EVM transfers are reported only once mined.
//   - No fee-on-transfer or rebasing token accounting: the amount is what the
//     Transfer log says.
//
// Performance: the hot path reads block and log answers as a token stream
// (go-json-experiment's jsontext, parsing the body in place) and decodes only
// the fields payd needs, fixed-size hex straight into arrays, instead of
// go-ethereum's full types or even encoding/json into lean structs (about 3×
// faster than the latter on a 300-transaction block plus 2,000 logs; the
// lean structs' tags remain as the reference the fuzz test compares the
// stream against). Matching is against a Watchlist (map[common.Address]string
// under a RWMutex). Scanner.Scan is that path, and evmtest generates the
// synthetic block and logs payd's benchmarks feed it.
//
// It imports chain, go-ethereum's common and core/types (for Address, Hash
// and Bloom only) and jsontext; never payd's watcher, store or service
// packages. A Backend's Run must not be called twice at the same time.
package evm
