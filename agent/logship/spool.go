package logship

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"corral.io/corral/api/v1alpha1"
)

// SpoolFile is where the node's init keeps the records it could not send
// yet: /run is a tmpfs that switch_root carries into the root filesystem.
const SpoolFile = "/run/corral/logship.jsonl"

// Spool carries the queue across an exec. The initramfs agent (stage 1)
// cannot send anything before it switches root — it registers only after —
// so it writes every record to the file at path too; the agent exec'ed in
// the root filesystem (stage 2) calls Spool with the same path, takes those
// records back into its queue ahead of its own (their seq is lower), and
// sends them once it has registered.
//
// Spool first restores and removes the file if there is one, then writes
// the queue to a new one and appends each record logged from then on, up
// to Options.Capacity records. Spooling ends, and the file is removed, at
// the first batch the controller accepts. Call it once /run is mounted.
func (s *Shipper) Spool(path string) error {
	restored, err := readSpool(path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(restored) > 0 {
		s.q = append(restored, s.q...)
		if n := len(s.q) - s.o.Capacity; n > 0 {
			s.q = s.q[n:]
			s.dropped += uint64(n)
		}
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if s.spool != nil {
		s.spool.Close()
		s.spool = nil
	}
	if merr := os.MkdirAll(filepath.Dir(path), 0o755); merr != nil {
		return errors.Join(err, fmt.Errorf("log spool: %w", merr))
	}
	f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if ferr != nil {
		return errors.Join(err, fmt.Errorf("log spool: %w", ferr))
	}
	s.spool, s.spoolPath, s.spooled = f, path, 0
	for _, r := range s.q {
		s.spoolLocked(r)
	}
	if len(restored) > 0 {
		s.log.Info("took back the log records of the previous stage", "records", len(restored), "file", path)
	}
	return err
}

// readSpool reads the records of a spool file; a torn last line (the
// writer was killed mid-write) is ignored.
func readSpool(path string) ([]v1alpha1.LogRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log spool: %w", err)
	}
	defer f.Close()
	var out []v1alpha1.LogRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r v1alpha1.LogRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Seq == 0 {
			continue
		}
		if len(out) > 0 && r.Seq <= out[len(out)-1].Seq {
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("log spool %s: %w", path, err)
	}
	return slices.Clip(out), nil
}

// spoolLocked appends r to the spool; s.mu is held.
func (s *Shipper) spoolLocked(r v1alpha1.LogRecord) {
	if s.spool == nil || s.spooled >= s.o.Capacity {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	if _, err := s.spool.Write(append(b, '\n')); err != nil {
		s.spool.Close()
		s.spool = nil
		return
	}
	s.spooled++
}

// endSpool stops spooling: the controller has the records now.
func (s *Shipper) endSpool() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spool == nil {
		return
	}
	s.spool.Close()
	s.spool = nil
	_ = os.Remove(s.spoolPath)
}
