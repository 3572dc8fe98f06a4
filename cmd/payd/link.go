package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/client"
)

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "link",
			Short: "Create, show and delete payment links through a running payd's API (key from " + apiKeyEnv + ")",
			Long: `A payment link makes a fresh invoice for every visitor of its URL
(<public_url>/l/<id>) and sends them to its checkout page. The commands call a
running payd over HTTP with the API key in ` + apiKeyEnv + `; the server is found as
for ` + "`payd invoice`" + `.`,
		}
		newClient := g.apiClient(cmd)
		cmd.AddCommand(linkCreateCmd(newClient), linkGetCmd(newClient), linkDeleteCmd(newClient))
		return cmd
	})
}

func linkCreateCmd(newClient clientFunc) *cobra.Command {
	var (
		req      client.CreateLinkRequest
		metadata string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "create --amount AMOUNT --currency CODE",
		Short: "Create a payment link and print its URL (or the link with --json)",
		Example: `  payd link create --amount 25.00 --currency USD --description "T-shirt"
  payd link create --amount 0.001 --currency BTC --method bitcoin/btc --max-uses 1 --expires-at 2026-12-31T23:59:59Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.MaxUses < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--max-uses %d: use a positive number (leave it out for unlimited)", req.MaxUses)}
			}
			if req.ExpiresAt != "" {
				if _, err := time.Parse(time.RFC3339, req.ExpiresAt); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--expires-at %q: use an RFC 3339 time such as 2026-12-31T23:59:59Z", req.ExpiresAt)}
				}
			}
			var err error
			if req.Metadata, err = metadataFlag(metadata, `{"sku":"T1"}`); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			l, err := c.CreateLink(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("create link: %w", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), l)
			}
			fmt.Fprintln(cmd.OutOrStdout(), l.URL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Amount, "amount", "", "amount of every invoice as a decimal string, e.g. 25.00 (required)")
	f.StringVar(&req.Currency, "currency", "", "fiat code priced at each visit (USD) or an asset code (BTC, ETH, USDC) (required)")
	f.StringArrayVar(&req.Methods, "method", nil, "payment method <chain>/<asset>, repeatable (default: every method that can be priced)")
	f.StringVar(&req.Description, "description", "", "what is being paid for, shown on the checkout page")
	f.StringVar(&metadata, "metadata", "", "JSON object copied into every invoice")
	f.Int64Var(&req.MaxUses, "max-uses", 0, "how many invoices the link may create (default: unlimited)")
	f.StringVar(&req.ExpiresAt, "expires-at", "", "RFC 3339 time after which the link answers 410 (default: never)")
	f.BoolVar(&asJSON, "json", false, "print the link as JSON instead of its URL")
	_ = cmd.MarkFlagRequired("amount")
	_ = cmd.MarkFlagRequired("currency")
	return cmd
}

func linkGetCmd(newClient clientFunc) *cobra.Command {
	return getCmd(newClient, "Show a payment link and how often it was used", "link", (*client.Client).GetLink, printLink)
}

func linkDeleteCmd(newClient clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a payment link (its URL answers 410 Gone; invoices it made are kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.DeleteLink(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete link %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted %s\n", args[0])
			return nil
		},
	}
}

// printLink writes a payment link for a person.
func printLink(w io.Writer, l *client.Link) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", l.ID)
	fmt.Fprintf(tw, "url\t%s\n", l.URL)
	fmt.Fprintf(tw, "amount\t%s %s\n", l.Amount, l.Currency)
	methods := "every method that can be priced"
	if len(l.Methods) > 0 {
		methods = strings.Join(l.Methods, ", ")
	}
	fmt.Fprintf(tw, "methods\t%s\n", methods)
	if l.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", l.Description)
	}
	uses := fmt.Sprintf("%d", l.Uses)
	if l.MaxUses != nil {
		uses += fmt.Sprintf(" of %d", *l.MaxUses)
	}
	fmt.Fprintf(tw, "uses\t%s\n", uses)
	if l.ExpiresAt != nil {
		fmt.Fprintf(tw, "expires\t%s\n", *l.ExpiresAt)
	}
	fmt.Fprintf(tw, "created\t%s\n", l.CreatedAt)
	return tw.Flush()
}
