package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
)

// fakeAPI is a controller in memory; it records the calls that change
// something.
type fakeAPI struct {
	nodes  []v1alpha1.Node
	events map[string][]v1alpha1.Event
	// err, when set, is the answer to every call.
	err error
	// calls are "action <id> <action> <request JSON>" and "forget <id>".
	calls []string
}

func (f *fakeAPI) Nodes(context.Context) ([]v1alpha1.Node, error) {
	if f.err != nil {
		return nil, f.err
	}
	return slices.Clone(f.nodes), nil
}

func (f *fakeAPI) find(id string) (int, error) {
	if f.err != nil {
		return -1, f.err
	}
	i := slices.IndexFunc(f.nodes, func(n v1alpha1.Node) bool { return n.ID == id })
	if i < 0 {
		return -1, &client.APIError{Code: 404, Message: "node not found"}
	}
	return i, nil
}

func (f *fakeAPI) Node(_ context.Context, id string) (v1alpha1.Node, error) {
	i, err := f.find(id)
	if err != nil {
		return v1alpha1.Node{}, err
	}
	return f.nodes[i], nil
}

func (f *fakeAPI) Events(_ context.Context, id string) ([]v1alpha1.Event, error) {
	if _, err := f.find(id); err != nil {
		return nil, err
	}
	return f.events[id], nil
}

func (f *fakeAPI) Action(_ context.Context, id, action string, req v1alpha1.ActionRequest) (v1alpha1.Node, error) {
	i, err := f.find(id)
	if err != nil {
		return v1alpha1.Node{}, err
	}
	b, _ := json.Marshal(req)
	f.calls = append(f.calls, fmt.Sprintf("action %s %s %s", id, action, b))
	n := &f.nodes[i]
	switch action {
	case "approve":
		n.State = "approved"
	case "reject", "decommission":
		n.State = "decommissioned"
	case "assign":
		n.AssignedProfile = req.Profile
		if req.Profile != "" {
			n.Profile = req.Profile
		}
	case "labels":
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for k, v := range req.Set {
			n.Labels[k] = v
		}
		for _, k := range req.Remove {
			delete(n.Labels, k)
		}
	}
	return *n, nil
}

func (f *fakeAPI) Explain(_ context.Context, id string) (v1alpha1.ProfileExplanation, error) {
	if _, err := f.find(id); err != nil {
		return v1alpha1.ProfileExplanation{}, err
	}
	return v1alpha1.ProfileExplanation{NodeID: id, Profile: "compute", By: "rule", Profiles: []v1alpha1.ProfileReason{
		{Profile: "gpu-worker", Priority: 100, Result: "no-match", Reason: "rule is false"},
		{Profile: "compute", Priority: 0, Result: "chosen", Reason: "rule matched"},
	}}, nil
}

func (f *fakeAPI) Forget(_ context.Context, id string) error {
	i, err := f.find(id)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, "forget "+id)
	f.nodes = slices.Delete(f.nodes, i, i+1)
	return nil
}

// runNodes runs `corral nodes <args>` against api, with stdin, and
// returns stdout.
func runNodes(t *testing.T, api nodesAPI, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newNodesCmdWith(func(cmd *cobra.Command, _ string) (*nodesDeps, error) {
		return &nodesDeps{
			api: api, configPath: "/etc/corral/client.yaml", server: "https://ctl:8443",
			now: func() time.Time { return testNow }, in: strings.NewReader(stdin), prompt: &errOut,
		}, nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	t.Logf("corral nodes %s\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

func TestNodesVerbsSendTheRightRequest(t *testing.T) {
	gpu := "n290625c983b70417daa29c6d"
	vm := "n6227c08b186df43361f40f74"
	tests := []struct {
		name      string
		args      []string
		wantCalls []string
		wantOut   string
	}{
		{"approve by MAC, in any case and separator", []string{"approve", "52-54-00-12-34-56", "--reason", "racked"},
			[]string{`action ` + vm + ` approve {"reason":"racked"}`}, "approved " + vm + ": now approved\n"},
		{"reject by id", []string{"reject", vm},
			[]string{`action ` + vm + ` reject {}`}, "rejected " + vm + ": now decommissioned\n"},
		{"decommission by hostname, any case", []string{"decommission", "GPU-01", "--reason", "PSU"},
			[]string{`action ` + gpu + ` decommission {"reason":"PSU"}`}, "decommissioned gpu-01 (" + gpu + "): now decommissioned\n"},
		{"assign a profile", []string{"assign", "gpu-01", "storage"},
			[]string{`action ` + gpu + ` assign {"profile":"storage"}`}, "assigned profile storage to gpu-01 (" + gpu + ")\n"},
		{"assign --clear returns to the rules", []string{"assign", "gpu-01", "--clear"},
			[]string{`action ` + gpu + ` assign {}`}, "gpu-01 (" + gpu + "): profile chosen by the rules again (in force now: gpu-worker)\n"},
		{"label sets and removes at once", []string{"label", "gpu-01", "zone=eu", "rack-", "corral.io/pool=x", "--reason", "move"},
			[]string{`action ` + gpu + ` labels {"reason":"move","set":{"corral.io/pool":"x","zone":"eu"},"remove":["rack"]}`},
			"labelled gpu-01 (" + gpu + ") (corral.io/pool=x zone=eu rack-): labels now corral.io/pool=x, zone=eu\n"},
		{"label with an empty value", []string{"label", "gpu-01", "empty="},
			[]string{`action ` + gpu + ` labels {"set":{"empty":""}}`}, ""},
		{"forget with --yes does not ask", []string{"forget", "gpu-01", "--yes"},
			[]string{"forget " + gpu}, "forgot gpu-01 (" + gpu + ")\n"},
		{"a write verb prints the node with -o json", []string{"approve", vm, "-o", "json"},
			[]string{`action ` + vm + ` approve {}`}, `"state": "approved"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{nodes: testNodes()}
			out, err := runNodes(t, api, "", tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantCalls, api.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not contain %q", out, tt.wantOut)
			}
		})
	}
}

func TestNodesForgetAsksFirst(t *testing.T) {
	tests := []struct {
		name, stdin string
		forgotten   bool
		wantErr     string
	}{
		{"yes forgets", "yes\n", true, ""},
		{"y without a newline forgets", "y", true, ""},
		{"anything else keeps the node", "n\n", false, "not confirmed; nothing was changed"},
		{"an empty answer keeps the node", "\n", false, "not confirmed"},
		{"no terminal, no --yes: says to pass --yes", "", false, "pass --yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{nodes: testNodes()}
			_, err := runNodes(t, api, tt.stdin, "forget", "gpu-01")
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if got := len(api.calls) == 1; got != tt.forgotten {
				t.Errorf("forgotten = %v, want %v (calls %q)", got, tt.forgotten, api.calls)
			}
		})
	}
}

func TestNodesRefusesBadArgumentsBeforeCallingTheController(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown output", []string{"list", "-o", "name"}, `output format "name": use -o table, wide, json or yaml`},
		{"unknown state", []string{"list", "--state", "happy"}, `--state "happy": use one of discovered, pending`},
		{"selector without =", []string{"list", "-l", "rack"}, `--selector "rack": write key=value`},
		{"label without = or -", []string{"label", "gpu-01", "rack"}, `label "rack": write key=value to set a label or key- to remove it`},
		{"label with an empty key", []string{"label", "gpu-01", "=b4"}, "the key is empty"},
		{"label set and removed", []string{"label", "gpu-01", "rack=b4", "rack-"}, "label rack is both set and removed"},
		{"label given twice", []string{"label", "gpu-01", "rack=b4", "rack=b5"}, "label rack is given twice"},
		{"label without labels", []string{"label", "gpu-01"}, "requires at least 2 arg(s)"},
		{"assign without a profile", []string{"assign", "gpu-01"}, "give NODE and PROFILE, or NODE and --clear"},
		{"assign a profile and --clear", []string{"assign", "gpu-01", "storage", "--clear"}, "with --clear give only NODE"},
		{"show without a node", []string{"show"}, "accepts 1 arg(s), received 0"},
		{"approve two nodes", []string{"approve", "a", "b"}, "accepts 1 arg(s), received 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{nodes: testNodes()}
			_, err := runNodes(t, api, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if len(api.calls) != 0 {
				t.Errorf("the controller was called: %q", api.calls)
			}
		})
	}
}

func TestNodesResolve(t *testing.T) {
	nodes := testNodes()
	twin := nodes[2]
	twin.ID, twin.MACs = "n00000000000000000000beef", []string{"52:54:00:00:00:99"}
	nodes = append(nodes, twin) // a second compute-07
	tests := []struct {
		ref, want, wantErr string
	}{
		{ref: "n290625c983b70417daa29c6d", want: "n290625c983b70417daa29c6d"},
		{ref: "gpu-01", want: "n290625c983b70417daa29c6d"},
		{ref: "B8:3F:D2:1A:00:02", want: "n290625c983b70417daa29c6d"}, // not the first MAC
		{ref: "compute-07", wantErr: `"compute-07" names 2 nodes (n000000000000000000000abc, n00000000000000000000beef): give the node id`},
		{ref: "gpu-99", wantErr: `no node "gpu-99" (looked for a node id, hostname or MAC): ` + "`corral nodes list`"},
		{ref: "aa:aa:aa:aa:aa:aa", wantErr: `no node "aa:aa:aa:aa:aa:aa"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			d := &nodesDeps{api: &fakeAPI{nodes: nodes}}
			got, err := d.resolve(t.Context(), tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("resolve(%s) = %s, want %s", tt.ref, got, tt.want)
			}
		})
	}
}

func TestNodesErrorsSayWhatToDo(t *testing.T) {
	dialErr := &url.Error{Op: "Get", URL: "https://ctl:8443/api/v1alpha1/nodes", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		name    string
		err     error
		args    []string
		wantErr string
	}{
		{"a refused token names the file", &client.APIError{Code: 403, Message: "admin token required"}, []string{"list"},
			"the admin token in /etc/corral/client.yaml was refused (403 Forbidden: admin token required): copy the current client.yaml"},
		{"a missing token too", &client.APIError{Code: 401, Message: "no bearer token"}, []string{"show", "n290625c983b70417daa29c6d"},
			"the admin token in /etc/corral/client.yaml was refused (401 Unauthorized"},
		{"an unknown node id points at list", &client.APIError{Code: 404, Message: "node not found"}, []string{"events", "n290625c983b70417daa29c6d"},
			`no node "n290625c983b70417daa29c6d" on https://ctl:8443 (node not found): ` + "`corral nodes list` shows the nodes"},
		{"a refused transition gives the controller's reason", &client.APIError{Code: 409, Message: "node x is ready: only pending nodes can be approved"}, []string{"approve", "n290625c983b70417daa29c6d"},
			"approve n290625c983b70417daa29c6d: refused by the controller: node x is ready: only pending nodes can be approved"},
		{"a bad request passes the message on", &client.APIError{Code: 400, Message: `unknown profile "gpu"`}, []string{"assign", "n290625c983b70417daa29c6d", "gpu"},
			`controller: 400 Bad Request: unknown profile "gpu"`},
		{"an unreachable controller asks whether it runs", dialErr, []string{"list"},
			"cannot reach the controller at https://ctl:8443 (from /etc/corral/client.yaml): is `corral controller` running there?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runNodes(t, &fakeAPI{err: tt.err}, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// yamlToJSONValue decodes YAML into the values JSON would give.
func yamlToJSONValue(data []byte, v *any) error {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func FuzzNodesLabelParse(f *testing.F) {
	for _, seed := range []string{"rack=b4", "rack-", "corral.io/pool=x\x00zone-", "=b4", "a=b\x00a-", "a=\x00a=b", "-", "a=b=c", "a--"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		var fl nodesLabelFlags
		if err := fl.parse(strings.Split(joined, "\x00")); err != nil {
			return
		}
		// Whatever is accepted is one consistent change.
		for k := range fl.set {
			if k == "" || slices.Contains(fl.remove, k) {
				t.Fatalf("accepted set %q with remove %q", fl.set, fl.remove)
			}
		}
		for i, k := range fl.remove {
			if k == "" || slices.Contains(fl.remove[i+1:], k) {
				t.Fatalf("accepted remove %q", fl.remove)
			}
		}
	})
}
