package inventory

import (
	"github.com/siderolabs/go-blockdevice/v2/blkid"

	api "corral.io/corral/api/v1alpha1"
)

// probeResult is what reading a disk's first and last sectors tells.
type probeResult struct {
	table     string // "gpt" or ""
	tableUUID string
	fs        *api.Filesystem // superblock on the whole disk
	parts     []api.Partition
}

// probeDisk reads the partition table and superblocks of a block device (or
// image file) with go-blockdevice's blkid. The device is opened read-only;
// a shared lock is tried, never waited for, so a disk that another program
// is partitioning is reported as not probed rather than blocking.
func probeDisk(path string) (probeResult, error) {
	info, err := blkid.ProbePath(path)
	if err != nil {
		return probeResult{}, err
	}
	var res probeResult
	switch {
	case info.Name == "gpt":
		res.table = "gpt"
		if info.UUID != nil {
			res.tableUUID = info.UUID.String()
		}
	case info.Name != "":
		res.fs = filesystem(info.ProbeResult)
	}
	for _, p := range info.Parts {
		part := api.Partition{
			Number:      int(p.PartitionIndex),
			OffsetBytes: p.PartitionOffset,
			SizeBytes:   p.PartitionSize,
		}
		if p.PartitionLabel != nil {
			part.Label = *p.PartitionLabel
		}
		if p.PartitionType != nil {
			part.TypeUUID = p.PartitionType.String()
		}
		if p.PartitionUUID != nil {
			part.UUID = p.PartitionUUID.String()
		}
		if p.Name != "" {
			part.Filesystem = filesystem(p.ProbeResult)
		}
		res.parts = append(res.parts, part)
	}
	return res, nil
}

func filesystem(p blkid.ProbeResult) *api.Filesystem {
	fs := &api.Filesystem{Type: p.Name}
	if p.UUID != nil {
		fs.UUID = p.UUID.String()
	}
	if p.Label != nil {
		fs.Label = *p.Label
	}
	return fs
}
