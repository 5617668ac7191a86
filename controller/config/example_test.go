package config

import "testing"

// TestExampleBootsTheActiveImage: boot.kernel and boot.initrd win over the
// image store's active image (docs/image-store.md), so an example that sets
// them makes a user who follows the README boot those files, never the root
// filesystem of an imported image.
func TestExampleBootsTheActiveImage(t *testing.T) {
	c, err := Load("../../examples/controller.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Boot.Kernel != "" || c.Boot.Initrd != "" {
		t.Errorf("examples/controller.yaml sets boot.kernel %q and boot.initrd %q: nodes would boot those instead of the active image", c.Boot.Kernel, c.Boot.Initrd)
	}
}
