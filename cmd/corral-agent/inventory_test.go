package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	api "corral.io/corral/api/v1alpha1"
)

const dump = "../../agent/inventory/testdata/build-vm"

func TestInventoryJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runInventory(inventoryFlags{output: "json", root: dump}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var inv api.Inventory
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if inv.APIVersion != api.Version || inv.CPU.Threads != 2 || inv.Identity.NodeID == "" {
		t.Errorf("inventory = %+v", inv)
	}
}

func TestInventoryTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runInventory(inventoryFlags{output: "table", root: dump}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NODE ID", "AMD EPYC", "vda", "eth0", "corral.io/cpu-threads", "warning: system: no DMI"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInventoryBadFlags(t *testing.T) {
	for _, f := range []inventoryFlags{{output: "yaml"}, {output: "json", root: "/does/not/exist"}} {
		if err := runInventory(f, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v: want an error", f)
		}
	}
}
