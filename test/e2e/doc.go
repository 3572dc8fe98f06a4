// Package e2e runs the payd binary against real local nodes (btcd regtest and
// anvil) and checks what merchants and shoppers see: the invoice engine end to
// end through the API, restarts with kill -9 (once and in a 50-round loop),
// reorgs and replacements, node faults through a proxy, security rules,
// payment links, and the checkout page in headless Chromium.
package e2e
