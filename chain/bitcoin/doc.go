// Package bitcoin is payd's chain.Backend for Bitcoin: it follows a Bitcoin
// Core (≥24) or btcd node over JSON-RPC, reports payments to watched
// addresses from the mempool and from blocks, and reorgs and replacements.
//
// What it owns: a small JSON-RPC client (basic auth or Core's cookie file, a
// context and timeout on every call, quick retries of transient errors),
// raw block and transaction decoding with btcd's wire package, the watched
// script set (WatchSet), the mempool diff and the Run loop around the
// shared chain.Tracker. It imports chain and btcd's libraries; never
// watcher, store or anything above. It does not store anything: the
// consumer persists what each event says and passes the recent blocks back
// to Run after a restart.
//
// How it follows the node: every PollInterval (and, on btcd with
// WebsocketURL set, whenever a notifyblocks / notifynewtransactions push
// arrives) it asks the Tracker for the next step: getblockcount,
// getblockhash and getblockheader <hash> false compare parent hashes;
// each connected block is fetched with getblock <hash> 0 and scanned; then
// getrawmempool is diffed against the previous poll and new transactions are
// fetched with getrawtransaction <txid> 0. The websocket is only a wake-up
// signal: if it drops, polling continues and rpcclient reconnects.
//
// Performance: a block reply is several MB of hex. It is never run through
// encoding/json: hexResult slices the string out of the reply body and
// hex-decodes it into a pooled buffer (ScanBlockResponse), then
// wire.MsgBlock decodes it and every output script is looked up by its
// fixed-size key (hash or witness program, see WatchSet) under one read lock
// per block; a miss allocates nothing.
//
// Replacement: the inputs of every mempool transaction that paid a watched
// address are remembered. When a new mempool transaction (a BIP125
// replacement accepted by the node) or a connected block's transaction
// spends one of them under a different txid, TxReplaced{TxID, ReplacedBy}
// is sent (before the block's BlockConnected). Transfer.RBF is BIP125's
// explicit signal: any input sequence below 0xfffffffe.
//
// Bitcoin Core vs btcd, and what this package does about it:
//
//   - Parameters are positional only (btcd has no named parameters), and
//     verbosity is an integer (getblock <hash> 0, getrawtransaction
//     <txid> 0); getblockheader's verbose flag is a bool on both.
//   - getblockchaininfo "chain" is "main"/"test"/"signet"/"regtest" on Core
//     but btcd's chaincfg name "mainnet"/"testnet3"/"signet"/"regtest";
//     Check accepts either for the configured network. Core's
//     "initialblockdownload" is honoured (btcd does not send it).
//   - getblock <hash> 2 differs (btcd puts transactions under "rawtx"): not
//     used; raw blocks are decoded locally on both.
//   - RPC errors: btcd answers HTTP 200 with an error object, Core answers
//     HTTP 404/500 with the same JSON; both are decoded from the body. Core
//     may answer -28 (warming up) at start: retried.
//   - Push: btcd has a websocket (/ws, used via btcd's rpcclient); Core has
//     only ZMQ, which is not used — Core is polled.
//   - testmempoolaccept and getblock verbosity 3 are Core-only: not used.
//   - btcd accepts BIP125 replacements unless run with --rejectreplacement.
package bitcoin
