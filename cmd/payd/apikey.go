package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/store"
)

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"}
		var name string
		var scopes []string
		var gf bool
		create := &cobra.Command{
			Use:   "create --name NAME [--scope SCOPE]... [--greenfield]",
			Short: "Create an API key; its secret is printed once and only its hash is stored",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if strings.TrimSpace(name) == "" {
					return &exitError{code: 2, err: errors.New("--name is required (e.g. --name shop)")}
				}
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				if gf {
					if len(scopes) > 0 {
						return &exitError{code: 2, err: errors.New("--greenfield gives every invoice and webhook scope; leave out --scope")}
					}
					scopes = apikey.AllScopes
				}
				secret, k, err := apikey.Generate(name, scopes, time.Now())
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--scope: %w", err)}
				}
				db, err := openDB(cmd.Context(), cfg, false)
				if err != nil {
					return err
				}
				defer db.Close()
				if err := db.CreateAPIKey(cmd.Context(), k); err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintln(out, secret)
				fmt.Fprintf(cmd.ErrOrStderr(), "created %s (%s) with scopes %s — this secret is shown once; store it now\n",
					k.ID, k.Name, strings.Join(k.Scopes, ","))
				if gf {
					if !cfg.Greenfield.Enabled {
						fmt.Fprintln(cmd.ErrOrStderr(), "note: greenfield.enabled is false in the config; set it (and greenfield.store_id) for /api/v1")
					} else {
						fmt.Fprintf(cmd.ErrOrStderr(), "BTCPay plugin settings: server URL %s, store id %s, this API key\n", cfg.Server.PublicURL, cfg.Greenfield.StoreID)
					}
				}
				return nil
			},
		}
		create.Flags().StringVar(&name, "name", "", "a name to recognise the key by (required)")
		create.Flags().BoolVar(&gf, "greenfield", false, "a key for BTCPay Greenfield shop plugins: every invoice and webhook scope")
		create.Flags().StringArrayVar(&scopes, "scope", nil, "invoices:read, invoices:write, webhooks:read, webhooks:write (repeatable; default all)")

		list := &cobra.Command{
			Use:   "list",
			Short: "List API keys (never their secrets)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				db, err := openDB(cmd.Context(), cfg, false)
				if err != nil {
					return err
				}
				defer db.Close()
				keys, err := db.APIKeys(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATUS")
				for _, k := range keys {
					used, status := "-", "active"
					if k.LastUsedAt != nil {
						used = k.LastUsedAt.Format(time.RFC3339)
					}
					if k.RevokedAt != nil {
						status = "revoked " + k.RevokedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), used, status)
				}
				return tw.Flush()
			},
		}
		revoke := &cobra.Command{
			Use:   "revoke KEY_ID",
			Short: "Revoke an API key at once",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				db, err := openDB(cmd.Context(), cfg, false)
				if err != nil {
					return err
				}
				defer db.Close()
				if err := db.RevokeAPIKey(cmd.Context(), args[0], time.Now()); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return &exitError{code: 1, err: fmt.Errorf("no active key %s (see payd apikey list)", args[0])}
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
				return nil
			},
		}
		cmd.AddCommand(create, list, revoke)
		return cmd
	})
}
