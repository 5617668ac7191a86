package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"corral.io/corral/controller"
	"corral.io/corral/controller/config"
)

type controllerFlags struct {
	config    string
	iface     string
	stateDir  string
	logLevel  string
	logFormat string
}

func newControllerCmd() *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "controller --config FILE",
		Short: "Run the controller: DHCP, TFTP and HTTP boot services",
		Long: `Run the controller daemon in the foreground until SIGINT or SIGTERM.

The configuration is one YAML document (apiVersion corral.io/v1alpha1,
kind ControllerConfig); see docs/controller-config.md and examples/controller.yaml.
Flags override the file. A wrong value is refused at start, naming the field.

Needs root (DHCP binds port 67 on the provisioning interface).`,
		Example: `  corral controller --config /etc/corral/controller.yaml
  corral controller --config lab.yaml --interface br0 --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			d, err := controller.New(cfg, log)
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "controller configuration file (required)")
	fl.StringVar(&f.iface, "interface", "", "provisioning interface (overrides interface)")
	fl.StringVar(&f.stateDir, "state-dir", "", "state directory (overrides stateDir)")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	fl.StringVar(&f.logFormat, "log-format", "", "text or json (overrides log.format)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// load reads the file, applies the flags, and validates the result.
func (f *controllerFlags) load() (*config.Controller, error) {
	r, err := os.Open(f.config)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer r.Close()
	cfg, err := config.DecodeWith(r, func(c *config.Controller) {
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&c.Interface, f.iface)
		set(&c.StateDir, f.stateDir)
		set(&c.Log.Level, f.logLevel)
		set(&c.Log.Format, f.logFormat)
	})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", f.config, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
