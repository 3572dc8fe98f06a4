// Command payd is a self-hosted cryptocurrency payment processor: it creates
// invoices with a fresh deposit address per payment method derived from the
// merchant's watch-only keys, watches Bitcoin and EVM nodes, and tells the
// merchant through signed webhooks, an events API, websockets and a hosted
// checkout page.
//
// Each subcommand lives in its own file and registers itself with register();
// this is the only package that knows every concrete type and wires them.
package main

import (
	"fmt"
	"os"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "payd: "+err.Error())
		os.Exit(exitCode(err))
	}
}
