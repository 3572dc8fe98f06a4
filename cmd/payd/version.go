package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func init() {
	register(func(*globals) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print payd's version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintf(cmd.OutOrStdout(), "payd %s (%s %s/%s)\n", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			},
		}
	})
}
