package v1alpha1

// Kinds of the enrollment documents.
const (
	KindRegisterRequest  = "RegisterRequest"
	KindRegisterResponse = "RegisterResponse"
	KindCredential       = "Credential"
	KindNodeConfig       = "NodeConfig"
	KindHeartbeat        = "Heartbeat"
	KindNode             = "Node"
	KindError            = "Error"
)

// Agent endpoints (HTTPS; the agent pins the controller's CA by the SHA-256
// fingerprint given on its kernel command line). The full table, with the
// operator endpoints, is in docs/api.md.
const (
	// PathRegister: POST a RegisterRequest, no credential needed.
	PathRegister = "/api/v1alpha1/agent/register"
	// PathCredential: POST with the enrollment token as bearer; answers
	// 200 Credential once approved, 202 RegisterResponse while pending.
	PathCredential = "/api/v1alpha1/agent/credential"
	// PathConfig: GET with the node credential as bearer; answers NodeConfig.
	PathConfig = "/api/v1alpha1/agent/config"
	// PathHeartbeat: POST a Heartbeat with the node credential as bearer.
	PathHeartbeat = "/api/v1alpha1/agent/heartbeat"
)

// RegisterRequest is what an agent sends when it boots.
type RegisterRequest struct {
	// APIVersion is Version; Kind is KindRegisterRequest.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Inventory is the machine, as gathered this boot.
	Inventory Inventory `json:"inventory"`
	// Credential is the node credential the agent holds from an earlier
	// approval (e.g. kept on its own disk), if any. Presenting a valid one
	// keeps the node's approval across reboots whatever the policy.
	Credential string `json:"credential,omitempty"`
}

// RegisterResponse tells an agent where its enrollment stands.
type RegisterResponse struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// NodeID is the id the controller knows the machine by.
	NodeID string `json:"nodeID"`
	// State is the node's state.
	State NodeState `json:"state"`
	// EnrollmentToken authenticates this boot's requests for its
	// credential (PathCredential). It is returned by register only.
	EnrollmentToken string `json:"enrollmentToken,omitempty"`
	// RetryAfterSeconds is how long to wait before asking again.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// Message says, for a person, what the node is waiting for.
	Message string `json:"message,omitempty"`
}

// Credential is a node's own secret, issued once at approval. It is sent as
// "Authorization: Bearer <credential>" and identifies the node: the
// controller derives the node from it, so a node can neither read another
// node's configuration nor report for it.
type Credential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	NodeID     string `json:"nodeID"`
	Credential string `json:"credential"`
}

// NodeConfig is what an approved node applies.
type NodeConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	NodeID     string `json:"nodeID"`
	Hostname   string `json:"hostname"`
	// Profile is the name of the profile in force.
	Profile string `json:"profile"`
	// Labels the node's kubelet may set on itself (see docs/profiles.md);
	// role labels are applied by the controller.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints in key=value:Effect form.
	Taints []string `json:"taints,omitempty"`
	// KernelArgs the profile adds to the boot command line.
	KernelArgs []string `json:"kernelArgs,omitempty"`
	// K3sArgs are extra k3s agent arguments from the profile.
	K3sArgs []string `json:"k3sArgs,omitempty"`
	// ImageVersion is the image the profile pins; empty for the active one.
	ImageVersion string `json:"imageVersion,omitempty"`
	// Disks is the disk plan: what the agent does with each disk.
	Disks []DiskPlan `json:"disks,omitempty"`
	// HeartbeatSeconds is how often to send a Heartbeat.
	HeartbeatSeconds int `json:"heartbeatSeconds"`
	// K3s is how to join the cluster; absent when the controller runs no
	// k3s server. It carries a secret and is sent only to an approved node
	// through PathConfig (see docs/k3s.md).
	K3s *K3sJoin `json:"k3s,omitempty"`
}

// K3sJoin is what a node needs to join the controller's k3s cluster.
type K3sJoin struct {
	// ServerURL is the k3s supervisor/API address,
	// https://<advertiseAddress>:6443 (the agent's `server` key).
	ServerURL string `json:"serverURL"`
	// Token is the cluster's agent token (the agent's `token` key): it lets
	// a machine join as a node, not administer the cluster.
	Token string `json:"token"`
}

// Heartbeat is sent periodically by a provisioned node.
type Heartbeat struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Ready is true once the node applied its configuration.
	Ready bool `json:"ready"`
	// Message describes the node's condition for a person.
	Message string `json:"message,omitempty"`
}

// Error is the body of every 4xx and 5xx answer of the API.
type Error struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Code is the HTTP status code.
	Code int `json:"code"`
	// Message says what was wrong and what to do.
	Message string `json:"message"`
}

// DiskPlan is what a node does with one of its disks (see docs/profiles.md).
type DiskPlan struct {
	// Name, Path and ByID identify the disk as the inventory reported it.
	Name string `json:"name"`
	Path string `json:"path"`
	ByID string `json:"byID,omitempty"`
	// Use is scratch, ceph or none.
	Use string `json:"use"`
	// Action is create, keep, wipe or none. wipe appears only where the
	// profile explicitly allowed it for that disk.
	Action string `json:"action"`
	// Reason explains the decision in one sentence.
	Reason string `json:"reason"`
}
