package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/payd/payd/client"
)

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "refund",
			Short: "Create refunds, show them and fetch their PSBTs through a running payd's API (key from " + apiKeyEnv + ")",
			Long: `The refund commands call a running payd over HTTP with the API key in
` + apiKeyEnv + ` (see docs/refunds.md). payd is watch-only: it builds the unsigned
transaction; you sign it in your own wallet.`,
		}
		newClient := g.apiClient(cmd)
		cmd.AddCommand(refundCreateCmd(newClient), refundGetCmd(newClient), refundPSBTCmd(newClient), refundBroadcastCmd(newClient), refundCancelCmd(newClient))
		return cmd
	})
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "sweep",
			Short: "Move settled invoices' funds to cold storage: payd prepares the PSBT / unsigned transactions, your wallet signs (key from " + apiKeyEnv + ")",
			Long: `payd sweep create builds a sweep (sw_…) through a running payd's API. Fetch,
sign and hand it back with the refund commands, which take sweep ids too:
payd refund psbt sw_…, payd refund broadcast sw_… SIGNED, payd refund get sw_….`,
		}
		newClient := g.apiClient(cmd)
		cmd.AddCommand(sweepCreateCmd(newClient))
		return cmd
	})
}

func sweepCreateCmd(newClient func() (*client.Client, error)) *cobra.Command {
	var req client.SweepRequest
	var minConf, maxInputs int
	var fee int64
	var key string
	c := &cobra.Command{
		Use:   "create --chain CHAIN (--to ADDRESS | --to-descriptor DESCRIPTOR)",
		Short: "Sweep settled invoices' outputs of one chain to your cold storage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("min-confirmations") {
				req.MinConfirmations = &minConf
			}
			if f.Changed("max-inputs") {
				req.MaxInputs = &maxInputs
			}
			if fee > 0 {
				req.FeeRate = &fee
			}
			v, err := cl.CreateSweep(cmd.Context(), req, key)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	f := c.Flags()
	f.StringVar(&req.Chain, "chain", "", "the chain to sweep, a name from the config's chains (required)")
	f.StringVar(&req.ToAddress, "to", "", "the cold-storage address")
	f.StringVar(&req.ToDescriptor, "to-descriptor", "", "Bitcoin: a cold-storage descriptor (payd uses its first address)")
	f.IntVar(&minConf, "min-confirmations", 0, "only outputs with at least this many confirmations (default: the chain's confirmations)")
	f.IntVar(&maxInputs, "max-inputs", 0, "at most this many inputs (default and ceiling as in docs/refunds.md)")
	f.Int64Var(&fee, "fee-rate", 0, "Bitcoin fee rate in sat/vB (default: the node's estimate)")
	f.StringVar(&key, "idempotency-key", "", "Idempotency-Key, so a retry is safe")
	_ = c.MarkFlagRequired("chain")
	return c
}

func refundCancelCmd(newClient func() (*client.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel REFUND_ID",
		Short: "Cancel a refund (rf_…) or sweep (sw_…) that was not broadcast yet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			v, err := cl.CancelRefund(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
}

func refundCreateCmd(newClient func() (*client.Client, error)) *cobra.Command {
	var req client.RefundRequest
	var fee int64
	var key string
	c := &cobra.Command{
		Use:   "create INVOICE_ID --amount AMOUNT [--address ADDR]",
		Short: "Refund a settled invoice; without --address the shopper gets a claim link",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			if fee > 0 {
				req.FeeRate = &fee
			}
			v, err := cl.CreateRefund(cmd.Context(), args[0], req, key)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	f := c.Flags()
	f.StringVar(&req.Amount, "amount", "", "amount to refund, a decimal string (required)")
	f.StringVar(&req.Currency, "currency", "", "currency of --amount: the method's asset (default) or the invoice's currency")
	f.StringVar(&req.Method, "method", "", "method to refund (default: the one that was paid)")
	f.StringVar(&req.Address, "address", "", "the shopper's refund address (default: a claim link)")
	f.StringVar(&req.Rate, "rate", "", "original (default) or current: the rate for an amount in the invoice's currency")
	f.StringVar(&req.Reason, "reason", "", "why (shown to you, not to the shopper)")
	f.Int64Var(&fee, "fee-rate", 0, "Bitcoin fee rate in sat/vB (default: the node's estimate)")
	f.StringVar(&key, "idempotency-key", "", "Idempotency-Key, so a retry is safe")
	_ = c.MarkFlagRequired("amount")
	return c
}

func refundGetCmd(newClient func() (*client.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "get REFUND_ID",
		Short: "Show a refund (rf_…) or sweep (sw_…) as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			v, err := cl.GetRefund(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
}

func refundPSBTCmd(newClient func() (*client.Client, error)) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "psbt REFUND_ID [-o FILE.psbt]",
		Short: "Print a Bitcoin refund's PSBT in base64, or write it in binary with -o (for Sparrow, Electrum, a hardware wallet)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			if out != "" {
				b, err := cl.RefundPSBTBinary(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return os.WriteFile(out, b, 0o600)
			}
			s, err := cl.RefundPSBT(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), s)
			return err
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the BIP174 binary PSBT to this file")
	return c
}

func refundBroadcastCmd(newClient func() (*client.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "broadcast REFUND_ID SIGNED",
		Short: "Hand the signed transaction (hex) or signed PSBT (base64; - reads stdin) to payd, which checks it and sends it to the node",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newClient()
			if err != nil {
				return err
			}
			signed := args[1]
			if signed == "-" {
				b, err := readAllStdin(cmd)
				if err != nil {
					return err
				}
				signed = string(b)
			}
			v, err := cl.BroadcastRefund(cmd.Context(), args[0], signed)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
}

func readAllStdin(cmd *cobra.Command) ([]byte, error) {
	return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4<<20))
}
