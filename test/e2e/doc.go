// Package e2e runs the payd binary against real local nodes (btcd regtest and
// anvil) and checks what a merchant sees through the API: the invoice engine
// end to end, restarts with kill -9, reorgs and late payments.
package e2e
