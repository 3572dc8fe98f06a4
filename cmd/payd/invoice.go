package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/client"
	"github.com/payd/payd/invoice"
)

// apiKeyEnv names the environment variable the API commands take the key from
// (never a flag, so the key stays out of shell history and ps).
const apiKeyEnv = "PAYD_API_KEY"

// defaultAPIURL is used when neither --url, PAYD_URL nor a config says where payd runs.
const defaultAPIURL = "http://127.0.0.1:8080"

// apiClient gives cmd the --url flag and returns how its subcommands get a
// client of the running payd's API, with the key from PAYD_API_KEY.
func (g *globals) apiClient(cmd *cobra.Command) func() (*client.Client, error) {
	var apiURL string
	cmd.PersistentFlags().StringVar(&apiURL, "url", "", "base URL of the running payd (default $PAYD_URL, else the config's server.listen)")
	return func() (*client.Client, error) {
		key := os.Getenv(apiKeyEnv)
		if key == "" {
			return nil, &exitError{code: 2, err: errors.New(apiKeyEnv + " is not set; create a key with `payd apikey create --name cli` and export " + apiKeyEnv + "=<key>")}
		}
		return client.New(g.apiURL(apiURL), key, client.WithUserAgent("payd-cli/"+Version())), nil
	}
}

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "invoice",
			Short: "Create, show and list invoices through a running payd's API (key from " + apiKeyEnv + ")",
			Long: `The invoice commands call a running payd over HTTP with the API key in
` + apiKeyEnv + `. The server is --url, else PAYD_URL, else http:// + server.listen of
the config, else ` + defaultAPIURL + `.`,
		}
		newClient := g.apiClient(cmd)
		cmd.AddCommand(invoiceCreateCmd(newClient), invoiceGetCmd(newClient), invoiceListCmd(newClient))
		return cmd
	})
}

// apiURL resolves the base URL of the running payd: the flag, PAYD_URL, the
// config's server.listen, or the default.
func (g *globals) apiURL(flag string) string {
	if flag != "" {
		return strings.TrimRight(flag, "/")
	}
	if u := os.Getenv("PAYD_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	cfg, err := g.load()
	if err != nil || cfg.Server.Listen == "" {
		return defaultAPIURL
	}
	return "http://" + dialAddr(cfg.Server.Listen)
}

// dialAddr turns a listen address into one to connect to: an unspecified
// host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

type clientFunc func() (*client.Client, error)

func invoiceCreateCmd(newClient clientFunc) *cobra.Command {
	var (
		req       client.CreateInvoiceRequest
		expiresIn time.Duration
		metadata  string
		idemKey   string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "create --amount AMOUNT --currency CODE",
		Short: "Create an invoice and print its checkout URL (or the invoice with --json)",
		Example: `  payd invoice create --amount 25.00 --currency USD --order-id A-1001
  open "$(payd invoice create --amount 0.001 --currency BTC --method bitcoin/btc)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expiresIn < 0 || expiresIn%time.Second != 0 {
				return &exitError{code: 2, err: fmt.Errorf("--expires-in %s: use whole seconds, e.g. 15m", expiresIn)}
			}
			req.ExpiresIn = int64(expiresIn / time.Second)
			var err error
			if req.Metadata, err = metadataFlag(metadata, `{"customer":"42"}`); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			v, err := c.CreateInvoice(cmd.Context(), req, idemKey)
			if err != nil {
				return fmt.Errorf("create invoice: %w", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.CheckoutURL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Amount, "amount", "", "amount as a decimal string, e.g. 25.00 or 0.001 (required)")
	f.StringVar(&req.Currency, "currency", "", "fiat code priced through the rate source (USD) or an asset code (BTC, ETH, USDC) (required)")
	f.StringArrayVar(&req.Methods, "method", nil, "payment method <chain>/<asset>, repeatable (default: every method that can be priced)")
	f.StringVar(&req.OrderID, "order-id", "", "your order reference")
	f.StringVar(&req.Description, "description", "", "what is being paid for, shown on the checkout page")
	f.StringVar(&metadata, "metadata", "", "JSON object stored with the invoice, returned verbatim")
	f.StringVar(&req.RedirectURL, "redirect-url", "", "where the checkout page sends the buyer after payment")
	f.DurationVar(&expiresIn, "expires-in", 0, "how long the invoice stays payable, e.g. 15m (default: the server's invoices.expires_in)")
	f.StringVar(&idemKey, "idempotency-key", "", "Idempotency-Key header: repeating the command with the same key returns the same invoice")
	f.BoolVar(&asJSON, "json", false, "print the invoice as JSON instead of its checkout URL")
	_ = cmd.MarkFlagRequired("amount")
	_ = cmd.MarkFlagRequired("currency")
	return cmd
}

func invoiceGetCmd(newClient clientFunc) *cobra.Command {
	return getCmd(newClient, "Show an invoice", "invoice", (*client.Client).GetInvoice, printInvoice)
}

// metadataFlag checks a --metadata value: empty, or a JSON object (example
// is shown in the error).
func metadataFlag(metadata, example string) (json.RawMessage, error) {
	if metadata == "" {
		return nil, nil
	}
	if !json.Valid([]byte(metadata)) || !strings.HasPrefix(strings.TrimSpace(metadata), "{") {
		return nil, &exitError{code: 2, err: fmt.Errorf("--metadata: is not a JSON object; use e.g. '%s'", example)}
	}
	return json.RawMessage(metadata), nil
}

// getCmd builds a "get ID" command: fetch the object with get and print it
// with show, or as JSON with --json.
func getCmd[T any](newClient clientFunc, short, what string, get func(*client.Client, context.Context, string) (T, error), show func(io.Writer, T) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			v, err := get(c, cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("get %s %s: %w", what, args[0], err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return show(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the "+what+" as JSON")
	return cmd
}

func invoiceListCmd(newClient clientFunc) *cobra.Command {
	var (
		p      client.ListParams
		status string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List invoices, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.Status = invoice.Status(status)
			c, err := newClient()
			if err != nil {
				return err
			}
			l, err := c.ListInvoices(cmd.Context(), p)
			if err != nil {
				return fmt.Errorf("list invoices: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, l)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tAMOUNT\tPAID\tORDER\tCREATED")
			for _, v := range l.Data {
				st := string(v.Status)
				if v.Exception != nil {
					st += " (" + *v.Exception + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\n", v.ID, st, v.Amount, v.Currency, v.AmountPaid, dash(v.OrderID), v.CreatedAt)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if l.HasMore && len(l.Data) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: payd invoice list --starting-after %s\n", l.Data[len(l.Data)-1].ID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only invoices in this status (new, processing, settled, expired, invalid)")
	f.StringVar(&p.OrderID, "order-id", "", "only invoices with this order id")
	f.IntVar(&p.Limit, "limit", 0, "at most this many, 1…200 (default: the server's, 50)")
	f.StringVar(&p.StartingAfter, "starting-after", "", "continue after this invoice id")
	f.BoolVar(&asJSON, "json", false, `print {"data":[…],"has_more":…} as JSON`)
	return cmd
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printInvoice writes the invoice for a person.
func printInvoice(w io.Writer, v *invoice.View) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	st := string(v.Status)
	if v.Exception != nil {
		st += " (" + *v.Exception + ")"
	}
	fmt.Fprintf(tw, "id\t%s\n", v.ID)
	fmt.Fprintf(tw, "status\t%s\n", st)
	fmt.Fprintf(tw, "amount\t%s %s (paid %s)\n", v.Amount, v.Currency, v.AmountPaid)
	if v.OrderID != "" {
		fmt.Fprintf(tw, "order id\t%s\n", v.OrderID)
	}
	if v.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", v.Description)
	}
	fmt.Fprintf(tw, "created\t%s\n", v.CreatedAt)
	fmt.Fprintf(tw, "expires\t%s\n", v.ExpiresAt)
	if v.SettledAt != nil {
		fmt.Fprintf(tw, "settled\t%s\n", *v.SettledAt)
	}
	fmt.Fprintf(tw, "checkout\t%s\n", v.CheckoutURL)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Methods) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tDUE\tRECEIVED\tCONFIRMED\tADDRESS")
		for _, m := range v.Methods {
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\n", m.Method, m.AmountDue, m.Asset, m.AmountReceived, m.AmountConfirmed, m.Address)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.Payments) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PAYMENT\tMETHOD\tAMOUNT\tSTATUS\tCONFS\tTXID")
		for _, p := range v.Payments {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.ID, p.Method, p.Amount, p.Status, p.Confirmations, p.TxID)
		}
		return tw.Flush()
	}
	return nil
}
