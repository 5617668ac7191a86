package v1alpha1

import (
	"regexp"
	"time"
)

// Kinds of the boot log documents.
const (
	KindLogBatch = "LogBatch"
	KindLogAck   = "LogAck"
	KindLogList  = "LogList"
)

// Boot log endpoints (see docs/agent.md, section Logs).
const (
	// PathLogs: POST a LogBatch with the enrollment token or the node
	// credential as bearer; answers LogAck once the records are on disk.
	PathLogs = "/api/v1alpha1/agent/logs"
	// PathNodeLogs: GET a node's boot log (admin token), with the query
	// parameters boot (current, previous, all or a boot id), after (a
	// cursor from an earlier answer), since (RFC 3339 time), limit (at
	// most 5000 records) and wait (up to 25s to wait for a record: follow
	// mode).
	PathNodeLogs = "/api/v1alpha1/nodes/{id}/logs"
)

// Limits of a LogBatch. The agent truncates records to them before sending;
// the controller refuses a batch that exceeds them.
const (
	// MaxLogRecords is the most records one batch carries.
	MaxLogRecords = 500
	// MaxLogMessage is the longest message, in bytes.
	MaxLogMessage = 4096
	// MaxLogAttrs is the most attributes of one record.
	MaxLogAttrs = 32
	// MaxLogAttrKey and MaxLogAttrValue bound an attribute, in bytes.
	MaxLogAttrKey   = 128
	MaxLogAttrValue = 1024
	// MaxLogLevel bounds a level name ("INFO", "WARN+2").
	MaxLogLevel = 16
	// MaxBootID bounds a boot id.
	MaxBootID = 64
)

// bootID is what a boot id may be: 1-MaxBootID of A-Z a-z 0-9 _ -.
var bootID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidBootID reports whether id may be a boot id (LogBatch.Boot): 1 to
// MaxBootID characters of A-Z a-z 0-9 _ -. The agent, the controller and
// the CLI all check with it.
func ValidBootID(id string) bool { return bootID.MatchString(id) }

// LogBatch carries records of one boot of a node, oldest first, to the
// controller. The node is the one the bearer token belongs to.
type LogBatch struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Boot identifies this boot of the machine: random, chosen by the
	// agent when the node starts (1-64 of A-Z a-z 0-9 - _).
	Boot string `json:"boot"`
	// Dropped counts records the agent discarded this boot because its
	// queue was full (a total, not a difference).
	Dropped uint64 `json:"dropped,omitempty"`
	// Records are in increasing Seq order.
	Records []LogRecord `json:"records"`
}

// LogRecord is one log line of the agent.
type LogRecord struct {
	// Seq numbers the records of a boot, increasing. The controller
	// stores a record only if its Seq is above the highest stored for the
	// boot, so a batch sent again is not stored twice.
	Seq uint64 `json:"seq"`
	// Time is the node's clock when the record was logged.
	Time time.Time `json:"time"`
	// Level is DEBUG, INFO, WARN or ERROR (slog's names).
	Level string `json:"level"`
	Msg   string `json:"msg"`
	// Attrs are the record's attributes, flattened (group.key).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// LogAck answers a LogBatch once its records are stored durably.
type LogAck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Stored is how many records were new; the others had been stored
	// already (a retried batch).
	Stored int `json:"stored"`
	// Seq is the highest Seq stored for this boot.
	Seq uint64 `json:"seq"`
}

// LogEntry is one stored record, as an operator reads it.
type LogEntry struct {
	// Cursor orders a node's entries across boots; pass the last one seen
	// as after= to read on.
	Cursor uint64 `json:"cursor"`
	Boot   string `json:"boot"`
	LogRecord
	// Received is the controller's clock when the record was stored.
	Received time.Time `json:"received"`
}

// BootInfo summarises the records of one boot.
type BootInfo struct {
	ID string `json:"id"`
	// First and Last are when the first and the latest records of the
	// boot were received.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Records is how many records of this boot are kept.
	Records int `json:"records"`
	// AgentDropped is what the agent reported it discarded.
	AgentDropped uint64 `json:"agentDropped,omitempty"`
	// Verified is true once a batch of this boot came with the node
	// credential: the approved machine sent it. A boot never verified was
	// sent with an enrollment token only, which whoever registers with the
	// node's hardware identity obtains.
	Verified bool `json:"verified,omitempty"`
}

// LogList is the answer of GET PathNodeLogs.
type LogList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	NodeID     string `json:"nodeID"`
	// Boots lists the node's boots with kept records, oldest first.
	Boots []BootInfo `json:"boots"`
	// Items are the entries asked for, in order.
	Items []LogEntry `json:"items"`
	// Next is the cursor to pass as after= to read what follows.
	Next uint64 `json:"next"`
	// Dropped counts the node's records the controller discarded, oldest
	// first, to stay within its bounds.
	Dropped uint64 `json:"dropped,omitempty"`
}
