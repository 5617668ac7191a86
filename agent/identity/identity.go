// Package identity keeps a node's identity across reboots of a stateless
// machine: the node credential (and the CA fingerprint it was issued under)
// on a small Corral-owned GPT partition, so the agent can present it at its
// next registration (docs/design/identity.md).
//
// The partition is created only on a disk the caller says the profile's
// disk plan gives to Corral, and only if that disk is blank or carries a
// GPT whose partitions are all Corral's: never on foreign data. Reading
// never writes.
package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/siderolabs/go-blockdevice/v2/blkid"
	"github.com/siderolabs/go-blockdevice/v2/block"
	"github.com/siderolabs/go-blockdevice/v2/partitioning/gpt"
)

// PartitionType is the GPT partition type GUID of Corral's identity
// partition (a random v4 UUID, fixed here).
var PartitionType = uuid.MustParse("6c9b8a3e-2f1d-4c5a-9e7b-0c0a11de7e17")

// PartitionName is its GPT name; every partition Corral writes is named
// "corral-…".
const PartitionName = "corral-identity"

// PartitionSize is 1 MiB: one record, aligned.
const PartitionSize = 1 << 20

// magic starts a record; then a big-endian uint32 length, the JSON, and
// its SHA-256.
var magic = []byte("CORRALID1\n")

// maxRecord bounds what Load reads.
const maxRecord = 64 << 10

// Record is what the partition keeps.
type Record struct {
	NodeID string `json:"nodeID"`
	// Credential is the node credential ("<node id>.<secret>").
	Credential string `json:"credential"`
	// CAFingerprint is the SHA-256 of the controller CA that issued it:
	// a credential is presented only to that controller.
	CAFingerprint string `json:"caFingerprint"`
}

// Errors.
var (
	// ErrNoPartition: the disk has no identity partition.
	ErrNoPartition = errors.New("no Corral identity partition")
	// ErrForeignData: the disk holds data Corral did not write.
	ErrForeignData = errors.New("disk holds data Corral did not write")
	// ErrNotAllowed: the disk plan does not give this disk to Corral.
	ErrNotAllowed = errors.New("the profile's disk plan does not allow Corral to write this disk")
	// ErrCorrupt: the partition's record fails its checksum.
	ErrCorrupt = errors.New("identity record is corrupt")
)

// Load reads the record from the identity partition of the disk at path.
// It never writes.
func Load(path string) (Record, error) {
	dev, err := block.NewFromPath(path)
	if err != nil {
		return Record{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer dev.Close()
	t, idx, err := findPartition(dev)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", path, err)
	}
	r, err := t.PartitionReader(idx)
	if err != nil {
		return Record{}, err
	}
	rec, err := decode(r)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

// Save writes rec to the identity partition of the disk at path, creating
// the partition first if it is missing, which needs allowed (the disk plan
// gives the disk to Corral) and a disk that is blank or holds only
// Corral's partitions. The record is fsynced before Save returns.
func Save(path string, allowed bool, rec Record) error {
	body, err := encode(rec)
	if err != nil {
		return err
	}
	dev, err := block.NewFromPath(path, block.OpenForWrite())
	if err != nil {
		return fmt.Errorf("open %s for writing: %w", path, err)
	}
	defer dev.Close()
	t, idx, err := findPartition(dev)
	if errors.Is(err, ErrNoPartition) || errors.Is(err, errBlank) {
		if !allowed {
			return fmt.Errorf("%s: no identity partition, and %w", path, ErrNotAllowed)
		}
		t, idx, err = createPartition(dev, t)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	w, size, err := t.PartitionWriter(idx)
	if err != nil {
		return err
	}
	if len(body) > size {
		return fmt.Errorf("identity record of %d bytes does not fit the %d-byte partition", len(body), size)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write identity record to %s: %w", path, err)
	}
	if err := dev.File().Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// errBlank: no partition table and no signature at all.
var errBlank = errors.New("blank disk")

// findPartition returns the disk's GPT and the (0-based) index of the
// identity partition. A blank disk gives errBlank and a nil table; a GPT
// without it ErrNoPartition (with the table if all its partitions are
// Corral's, else ErrForeignData); anything else ErrForeignData.
func findPartition(dev *block.Device) (*gpt.Table, int, error) {
	info, err := blkid.Probe(dev.File(), blkid.WithSkipLocking(true))
	if err != nil {
		return nil, 0, fmt.Errorf("probe: %w", err)
	}
	switch info.Name {
	case "":
		if blank, err := zeroed(dev.File()); err != nil {
			return nil, 0, err
		} else if !blank {
			return nil, 0, fmt.Errorf("%w: no known signature, but its first MiB is not empty", ErrForeignData)
		}
		return nil, 0, errBlank
	case "gpt":
	default:
		return nil, 0, fmt.Errorf("%w: it carries %s", ErrForeignData, info.Name)
	}
	gdev, err := gpt.DeviceFromBlockDevice(dev)
	if err != nil {
		return nil, 0, err
	}
	t, err := gpt.Read(gdev)
	if err != nil {
		return nil, 0, fmt.Errorf("read GPT: %w", err)
	}
	foreign := ""
	for i, p := range t.Partitions() {
		if p == nil {
			continue
		}
		if p.TypeGUID == PartitionType && p.Name == PartitionName {
			return t, i, nil
		}
		if !strings.HasPrefix(p.Name, "corral-") && foreign == "" {
			foreign = fmt.Sprintf("partition %d (%q)", i+1, p.Name)
		}
	}
	if foreign != "" {
		return nil, 0, fmt.Errorf("%w: %s is not Corral's", ErrForeignData, foreign)
	}
	return t, 0, ErrNoPartition
}

// createPartition adds the identity partition to t (a new GPT when nil).
func createPartition(dev *block.Device, t *gpt.Table) (*gpt.Table, int, error) {
	gdev, err := gpt.DeviceFromBlockDevice(dev)
	if err != nil {
		return nil, 0, err
	}
	if t == nil {
		if t, err = gpt.New(gdev); err != nil {
			return nil, 0, fmt.Errorf("new GPT: %w", err)
		}
	}
	n, _, err := t.AllocatePartition(PartitionSize, PartitionName, PartitionType)
	if err != nil {
		return nil, 0, fmt.Errorf("allocate identity partition: %w", err)
	}
	if err := t.Write(); err != nil {
		return nil, 0, fmt.Errorf("write GPT: %w", err)
	}
	return t, n - 1, nil
}

// zeroed reports whether the first MiB of f is all zeros.
func zeroed(f *os.File) (bool, error) {
	b := make([]byte, 1<<20)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return !bytes.ContainsFunc(b[:n], func(r rune) bool { return r != 0 }), nil
}

func encode(rec Record) ([]byte, error) {
	if rec.NodeID == "" || rec.Credential == "" {
		return nil, errors.New("identity record needs a node id and a credential")
	}
	j, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(magic)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(j)))
	b.Write(j)
	sum := sha256.Sum256(j)
	b.Write(sum[:])
	return b.Bytes(), nil
}

func decode(r io.Reader) (Record, error) {
	head := make([]byte, len(magic)+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(head[:len(magic)], magic) {
		if !bytes.ContainsFunc(head, func(r rune) bool { return r != 0 }) {
			return Record{}, fmt.Errorf("%w: the partition is empty", ErrNoPartition)
		}
		return Record{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(head[len(magic):])
	if n == 0 || n > maxRecord {
		return Record{}, fmt.Errorf("%w: length %d", ErrCorrupt, n)
	}
	body := make([]byte, int(n)+sha256.Size)
	if _, err := io.ReadFull(r, body); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if sum := sha256.Sum256(body[:n]); !bytes.Equal(sum[:], body[n:]) {
		return Record{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var rec Record
	if err := json.Unmarshal(body[:n], &rec); err != nil || rec.NodeID == "" || rec.Credential == "" {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return rec, nil
}
