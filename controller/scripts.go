package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/images"
	"corral.io/corral/controller/registry"
)

// nodeScripts gives each booting machine its iPXE script: an unknown machine
// gets the default (it boots the agent, which registers it); a known one gets
// its profile's kernel arguments and pinned image version; a decommissioned
// one gets nothing, so its firmware moves on to its next boot device.
//
// The default image is boot.kernel and boot.initrd when the configuration
// sets them (explicit), else the image store's active image, read again
// whenever `corral image activate` or `rollback` changes it. A profile's
// imageVersion wins over both. When the image booted has rootfs.squashfs,
// the command line tells the agent where it is and its sha256.
type nodeScripts struct {
	base     ipxe.Script
	reg      *registry.Store
	profiles *profileSet
	// images is the image store; nil when there is none (tests).
	images *images.Cache
	// explicit is true when base names the kernel and initramfs itself.
	explicit bool
}

func (s nodeScripts) Script(_ context.Context, mac net.HardwareAddr) (ipxe.Script, error) {
	sc := s.base
	n, err := s.reg.ByMAC(mac.String())
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return s.withDefaultImage(sc)
	case err != nil:
		return ipxe.Script{}, err
	case n.State == registry.Decommissioned:
		return ipxe.Script{}, fmt.Errorf("%w: node %s is decommissioned", httpboot.ErrUnknownNode, n.ID)
	case n.Inventory == nil:
		return s.withDefaultImage(sc)
	}
	_, cfg, err := s.profiles.Resolve(n)
	if err != nil {
		return ipxe.Script{}, fmt.Errorf("profile of node %s: %w", n.ID, err)
	}
	if len(cfg.KernelArgs) > 0 {
		sc.Cmdline = strings.TrimSpace(sc.Cmdline + " " + strings.Join(cfg.KernelArgs, " "))
	}
	v := cfg.ImageVersion
	if v == "" {
		return s.withDefaultImage(sc)
	}
	var m *api.ImageManifest
	if s.images != nil {
		// A pinned version the store does not know (a directory made by
		// hand) still boots by path, without a root filesystem.
		if img, err := s.images.Image(v); err == nil {
			m = &img.Manifest
		}
	}
	return withImage(sc, v, m)
}

// withDefaultImage points sc at the default image: the configuration's
// kernel and initramfs when it names them, else the active image.
func (s nodeScripts) withDefaultImage(sc ipxe.Script) (ipxe.Script, error) {
	if s.explicit || s.images == nil {
		return sc, nil
	}
	v, err := s.images.ActiveVersion()
	if err != nil {
		return ipxe.Script{}, fmt.Errorf("active image: %w", err)
	}
	if v == "" {
		return ipxe.Script{}, fmt.Errorf("nothing to boot: boot.kernel is not set and no image is active in %s (run corral image import DIR && corral image activate VERSION)", s.images.Store().Dir())
	}
	img, err := s.images.Image(v)
	if err != nil {
		return ipxe.Script{}, fmt.Errorf("active image %s: %w (corral image list shows the images; corral image activate VERSION picks another)", v, err)
	}
	return withImage(sc, v, &img.Manifest)
}

// withImage points sc at image version v under /images/, and, when its
// manifest m lists the root filesystem, adds the arguments naming it.
func withImage(sc ipxe.Script, v string, m *api.ImageManifest) (ipxe.Script, error) {
	sc.Kernel = "/images/" + v + "/vmlinuz"
	sc.Initrd = "/images/" + v + "/" + ipxe.InitrdName
	args := strings.Fields(sc.Cmdline)
	// Ours replace any the configuration or a profile wrote
	// (docs/image-store.md); the agent reads them from /proc/cmdline.
	args = slices.DeleteFunc(args, func(a string) bool {
		name, _, _ := strings.Cut(a, "=")
		return name == api.KernelArgRootfs || name == api.KernelArgRootfsSHA256
	})
	if m != nil {
		if a, ok := m.Artifact(api.ImageRootfsFile); ok {
			own, err := api.KernelArgs{RootfsURL: strings.TrimSuffix(sc.ControllerURL, "/") + "/images/" + v + "/" + api.ImageRootfsFile,
				RootfsSHA256: a.SHA256}.Format()
			if err != nil {
				return ipxe.Script{}, fmt.Errorf("image %s: %w", v, err)
			}
			args = append(args, own...)
		}
	}
	sc.Cmdline = strings.Join(args, " ")
	return sc, nil
}
