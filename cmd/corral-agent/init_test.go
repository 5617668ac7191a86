package main

import (
	"os"
	"slices"
	"testing"
)

func TestStage2EnvHasAPath(t *testing.T) {
	kernel := []string{"HOME=/", "TERM=linux"}
	got := stage2Env(kernel)
	if !slices.Contains(got, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") || len(got) != 3 {
		t.Errorf("stage2Env(%q) = %q, want a PATH added", kernel, got)
	}
	own := []string{"PATH=/opt/bin"}
	if got := stage2Env(own); !slices.Equal(got, own) {
		t.Errorf("stage2Env(%q) = %q, want it kept", own, got)
	}
}

func TestMeminfoMiB(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	total, avail := meminfoMiB("MemTotal"), meminfoMiB("MemAvailable")
	if total <= 0 || avail <= 0 || avail > total {
		t.Errorf("MemTotal %d MiB, MemAvailable %d MiB", total, avail)
	}
	if got := meminfoMiB("NoSuchField"); got != -1 {
		t.Errorf("missing field: %d, want -1", got)
	}
}
