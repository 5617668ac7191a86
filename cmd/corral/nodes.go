package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/clientconfig"
)

// nodesAPI is what the nodes verbs need from the controller: the operator
// half of *client.Client.
type nodesAPI interface {
	Nodes(ctx context.Context) ([]v1alpha1.Node, error)
	Node(ctx context.Context, id string) (v1alpha1.Node, error)
	Events(ctx context.Context, id string) ([]v1alpha1.Event, error)
	Action(ctx context.Context, id, action string, req v1alpha1.ActionRequest) (v1alpha1.Node, error)
	Forget(ctx context.Context, id string) error
	Explain(ctx context.Context, id string) (v1alpha1.ProfileExplanation, error)
}

// nodesDeps is what a verb's run function works with; tests fill it with a
// fake API and a fixed clock.
type nodesDeps struct {
	api nodesAPI
	// configPath and server say where the credentials came from and where
	// they were sent, for error messages.
	configPath string
	server     string
	now        func() time.Time
	// in answers confirmation prompts, written to prompt.
	in     io.Reader
	prompt io.Writer
}

// connectFunc builds the deps of a verb from the --client-config value.
type connectFunc func(cmd *cobra.Command, clientConfig string) (*nodesDeps, error)

// connect reads the client configuration (see clientconfig.Find for where)
// and makes an API client from it.
func connect(cmd *cobra.Command, clientConfig string) (*nodesDeps, error) {
	path, err := clientconfig.Find(clientconfig.DefaultLocations(clientConfig))
	if err != nil {
		return nil, err
	}
	cfg, err := clientconfig.Load(path)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg.Server, client.Trust{CAPEM: []byte(cfg.CAPEM)}, cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	return &nodesDeps{
		api:        c,
		configPath: path,
		server:     cfg.Server,
		now:        time.Now,
		in:         cmd.InOrStdin(),
		prompt:     cmd.ErrOrStderr(),
	}, nil
}

func newNodesCmd() *cobra.Command { return newNodesCmdWith(connect) }

// newNodesCmdWith builds `corral nodes` with its verbs; tests pass a
// connectFunc that returns fakes.
func newNodesCmdWith(connect connectFunc) *cobra.Command {
	var clientConfig string
	cmd := &cobra.Command{
		Use:     "nodes",
		Aliases: []string{"node"},
		Short:   "See and steer the machines the controller knows",
		Long: `See and steer the machines the controller knows: list them, show one with its
hardware, approve or reject it, assign a profile, set labels, decommission or
forget it, and read its history and its boot log.

NODE is a node id (n followed by 24 hex digits), a hostname, or the MAC
address of one of the node's NICs.

The controller's address, its CA certificate and the admin token come from
the client configuration, a YAML file (kind ClientConfig) that
` + "`corral controller`" + ` writes to <stateDir>/client.yaml at its first start. It is
looked for, in order: --client-config, $CORRAL_CONFIG,
/var/lib/corral/client.yaml, ~/.config/corral/client.yaml.`,
		Example: `  corral nodes list --state pending
  corral nodes approve gpu-07 --reason "racked in B4"
  corral nodes show 52:54:00:12:34:56 -o yaml`,
	}
	cmd.PersistentFlags().StringVar(&clientConfig, "client-config", "", "client configuration file (default: $CORRAL_CONFIG, /var/lib/corral/client.yaml, ~/.config/corral/client.yaml)")
	dial := func(cmd *cobra.Command) (*nodesDeps, error) { return connect(cmd, clientConfig) }
	cmd.AddCommand(
		newNodesListCmd(dial),
		newNodesShowCmd(dial),
		newNodesApproveCmd(dial),
		newNodesRejectCmd(dial),
		newNodesAssignCmd(dial),
		newNodesLabelCmd(dial),
		newNodesDecommissionCmd(dial),
		newNodesForgetCmd(dial),
		newNodesEventsCmd(dial),
		newNodesLogsCmd(dial),
	)
	return cmd
}

// dialFunc gives a verb its deps when it runs.
type dialFunc func(cmd *cobra.Command) (*nodesDeps, error)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputWide  = "wide" // the table with more columns (nodes list), as kubectl's -o wide
)

// addOutputFlag adds -o to a verb.
func addOutputFlag(cmd *cobra.Command, dst *string, def, usage string) {
	cmd.Flags().StringVarP(dst, "output", "o", def, usage)
}

func checkNodesOutput(o string, allowed ...string) error {
	if slices.Contains(allowed, o) {
		return nil
	}
	return fmt.Errorf("output format %q: use -o %s", o, orList(allowed))
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

var nodeIDPattern = regexp.MustCompile(`^n[0-9a-f]{24}$`)

// resolve finds the node NODE names: a node id is used as it is; a hostname
// or a MAC address is looked up in the node list.
func (d *nodesDeps) resolve(ctx context.Context, ref string) (string, error) {
	if nodeIDPattern.MatchString(ref) {
		return ref, nil
	}
	nodes, err := d.api.Nodes(ctx)
	if err != nil {
		return "", d.explain(err, ref)
	}
	mac, macErr := net.ParseMAC(ref)
	var byName, byMAC []string
	for _, n := range nodes {
		if n.ID == ref {
			return n.ID, nil
		}
		if n.Hostname != "" && strings.EqualFold(n.Hostname, ref) {
			byName = append(byName, n.ID)
		}
		if macErr == nil {
			for _, m := range n.MACs {
				if hw, err := net.ParseMAC(m); err == nil && hw.String() == mac.String() {
					byMAC = append(byMAC, n.ID)
					break
				}
			}
		}
	}
	for _, ids := range [][]string{byName, byMAC} {
		switch len(ids) {
		case 0:
		case 1:
			return ids[0], nil
		default:
			return "", fmt.Errorf("%q names %d nodes (%s): give the node id", ref, len(ids), strings.Join(ids, ", "))
		}
	}
	return "", fmt.Errorf("no node %q (looked for a node id, hostname or MAC): `corral nodes list` shows the nodes", ref)
}

// explain turns an API failure into a message that says what to do. ref is
// the node the call was about ("" for none).
func (d *nodesDeps) explain(err error, ref string) error {
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the admin token in %s was refused (%d %s: %s): copy the current client.yaml from the controller's state directory", d.configPath, ae.Code, http.StatusText(ae.Code), ae.Message)
		case http.StatusNotFound:
			if ref != "" {
				return fmt.Errorf("no node %q on %s (%s): `corral nodes list` shows the nodes", ref, d.server, ae.Message)
			}
		case http.StatusConflict:
			return fmt.Errorf("refused by the controller: %s", ae.Message)
		}
		return err
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%s presented a certificate not signed by the CA in %s: the file is from another controller or an earlier installation: %w", d.server, d.configPath, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%s presented a certificate for another name: set server in %s to an address the certificate names: %w", d.server, d.configPath, err)
	case errors.As(err, &certErr):
		return fmt.Errorf("%s presented an invalid certificate (check the controller's clock): %w", d.server, err)
	case ue.Timeout():
		return fmt.Errorf("the controller at %s (from %s) did not answer in time: %w", d.server, d.configPath, err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach the controller at %s (from %s): is `corral controller` running there? %w", d.server, d.configPath, err)
	}
	return err
}

// displayName is how messages name a node: its hostname and id.
func displayName(n v1alpha1.Node) string {
	if n.Hostname == "" {
		return n.ID
	}
	return n.Hostname + " (" + n.ID + ")"
}

// actOn resolves ref and posts one action on it.
func (d *nodesDeps) actOn(ctx context.Context, ref, action string, req v1alpha1.ActionRequest) (v1alpha1.Node, error) {
	id, err := d.resolve(ctx, ref)
	if err != nil {
		return v1alpha1.Node{}, err
	}
	n, err := d.api.Action(ctx, id, action, req)
	if err != nil {
		return v1alpha1.Node{}, d.explain(err, ref)
	}
	return n, nil
}

// writeResult prints the node an action returned: a sentence by default,
// or the node in the format asked for.
func (d *nodesDeps) writeResult(out io.Writer, output string, n v1alpha1.Node, sentence string) error {
	if output == "" {
		_, err := fmt.Fprintln(out, sentence)
		return err
	}
	return writeNodes(out, output, []v1alpha1.Node{n}, d.now(), false)
}

// writeOutputUsage is the -o help of the verbs that change a node.
const writeOutputUsage = "print the changed node as table, json or yaml (default: one sentence)"
