package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/payd/payd/dashboard"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

func init() {
	register(func(g *globals) *cobra.Command {
		cmd := &cobra.Command{Use: "admin", Short: "Manage sign-ins to the merchant dashboard"}
		var name, role string
		var stdin bool
		create := &cobra.Command{
			Use:   "create --name NAME [--role admin|viewer] [--password-stdin]",
			Short: "Create a dashboard admin (or reset the password of an existing one)",
			Long: `create asks for the password twice on the terminal (or reads one line from
standard input with --password-stdin, or when stdin is not a terminal) and stores
only its argon2id hash. Running it again for an existing name sets a new password,
lifts a lockout, turns two-factor sign-in off and signs every session out.
A viewer may look at everything but change nothing.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				name = strings.TrimSpace(name)
				if name == "" || len(name) > 64 {
					return &exitError{code: 2, err: errors.New("--name is required (1 to 64 characters, e.g. --name alice)")}
				}
				if role != "admin" && role != "viewer" {
					return &exitError{code: 2, err: fmt.Errorf("--role is %q; use admin or viewer", role)}
				}
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), stdin)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				hash, err := dashboard.HashPassword(pw)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				db, err := openDB(cmd.Context(), cfg, false)
				if err != nil {
					return err
				}
				defer db.Close()
				now := time.Now().UTC()
				a, err := db.CreateAdmin(cmd.Context(), store.Admin{ID: invoice.NewID("adm_", now), Name: name, PasswordHash: hash,
					Role: role, CreatedAt: now})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "admin %s (%s, %s) can sign in at %s%s/\n", a.Name, a.ID, a.Role,
					strings.TrimSuffix(cfg.Server.PublicURL, "/"), cfg.Dashboard.Path)
				return nil
			},
		}
		create.Flags().StringVar(&name, "name", "", "the name to sign in with (required)")
		create.Flags().StringVar(&role, "role", "admin", "admin (may change things) or viewer (read only)")
		create.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input (one line)")
		cmd.AddCommand(create)
		return cmd
	})
}

// readPassword prompts twice on a terminal, or reads one line from in.
func readPassword(in io.Reader, prompt io.Writer, fromStdin bool) (string, error) {
	f, isFile := in.(*os.File)
	if !fromStdin && isFile && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
