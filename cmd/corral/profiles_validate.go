package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"corral.io/corral/profiles"
)

type profilesValidateFlags struct {
	output string
}

func newProfilesValidateCmd(deps profilesDeps) *cobra.Command {
	var f profilesValidateFlags
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check profile files and report every problem with its line",
		Long: `Check profile files as the controller would load them: YAML syntax, unknown
fields, the CEL match expressions (they must compile and be boolean, and name
only fields the inventory has), labels, taints, hostname templates, kernel
and k3s arguments and disk selectors. Every problem is reported as
FILE:LINE: FIELD: what is wrong. Profile names must be unique across all the
files given (a name may repeat a shipped profile's: the file replaces it).

Exits non-zero when any file has a problem.`,
		Example: `  corral profiles validate /etc/corral/profiles/gpu.yaml
  corral profiles validate /etc/corral/profiles -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProfilesValidate(cmd.Context(), deps, f, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// validateResult is one file's outcome.
type validateResult struct {
	File     string          `json:"file" yaml:"file"`
	Profiles []string        `json:"profiles" yaml:"profiles"`
	Errors   []validateError `json:"errors" yaml:"errors"`
}

// validateError is one problem, as -o json and -o yaml print it.
type validateError struct {
	File    string `json:"file" yaml:"file"`
	Line    int    `json:"line,omitempty" yaml:"line,omitempty"`
	Field   string `json:"field,omitempty" yaml:"field,omitempty"`
	Message string `json:"message" yaml:"message"`
}

func runProfilesValidate(_ context.Context, _ profilesDeps, f profilesValidateFlags, paths []string, out io.Writer) error {
	if err := profilesCheckOutput(f.output); err != nil {
		return err
	}
	var results []validateResult
	var all []*profiles.Profile
	bad := 0
	for _, path := range paths {
		r := validateResult{File: path, Profiles: []string{}, Errors: []validateError{}}
		var ps []*profiles.Profile
		var err error
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			ps, err = profiles.LoadDir(path)
		} else {
			ps, err = profiles.LoadFile(path)
		}
		r.Errors = append(r.Errors, toValidateErrors(path, err)...)
		for _, p := range ps {
			r.Profiles = append(r.Profiles, p.Name)
		}
		all = append(all, ps...)
		results = append(results, r)
	}
	// Names must be unique across the files, as in one --dir.
	for _, e := range profiles.Errors(profiles.CheckUnique(all)) {
		for i := range results {
			if strings.HasPrefix(e.File, results[i].File) {
				results[i].Errors = append(results[i].Errors, validateError{e.File, e.Line, e.Field, e.Msg})
				break
			}
		}
	}
	for _, r := range results {
		if len(r.Errors) > 0 {
			bad++
		}
	}
	if f.output == "table" {
		for _, r := range results {
			if len(r.Errors) == 0 {
				fmt.Fprintf(out, "%s: ok (%s)\n", r.File, strings.Join(r.Profiles, ", "))
				continue
			}
			for _, e := range r.Errors {
				fmt.Fprintln(out, (&profiles.Error{File: e.File, Line: e.Line, Field: e.Field, Msg: e.Message}).Error())
			}
		}
	} else if err := profilesWrite(out, f.output, results); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d profile files have problems", bad, len(paths))
	}
	return nil
}

// toValidateErrors flattens a loader error.
func toValidateErrors(path string, err error) []validateError {
	if err == nil {
		return nil
	}
	var out []validateError
	for _, e := range profiles.Errors(err) {
		out = append(out, validateError{e.File, e.Line, e.Field, e.Msg})
	}
	if len(out) == 0 {
		// not a problem in the file but with reading it (missing, unreadable)
		var pe *os.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		out = append(out, validateError{File: path, Message: msg})
	}
	return out
}
