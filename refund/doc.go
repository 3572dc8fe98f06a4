// Package refund is payd's pure refund and sweep domain: refund statuses and
// their transitions, the refundable-amount rules, amount conversion at the
// invoice's original or a current rate, the refund object and its events,
// and the unsigned transactions handed to the merchant's own wallet — a
// BIP174 PSBT (v0) for Bitcoin, EIP-1559 fields and an EIP-681 URI for EVM.
//
// payd is watch-only: it never holds a key, so a refund is a transaction
// the merchant signs (Sparrow, Electrum, Bitcoin Core, a hardware wallet)
// and payd watches for. See docs/refunds.md.
//
// refund imports invoice (money, assets, invoices) and nothing else of
// payd's; besides that only btcd's wire/psbt/txscript. It does no I/O and
// reads no clock: time is an argument. It does not pick fee rates (the
// service asks the node), store anything (store) or follow a chain (watcher).
package refund
