package images

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"corral.io/corral/api/v1alpha1"
)

// Cache answers the running controller's questions — which image is
// active, what an image's manifest says — for every boot script request,
// re-reading a file only when a stat(2) shows it changed (another inode,
// size or modification time), so `corral image activate` in another process
// takes effect at the next request without a restart. Artifacts are not
// hashed here: Activate verified them.
type Cache struct {
	store *Store
	// Log, when set, is told when the active version changes.
	Log *slog.Logger

	mu        sync.Mutex
	loaded    bool
	state     stamp
	active    string
	stateErr  error
	manifests map[string]cachedManifest
}

type cachedManifest struct {
	stamp stamp
	img   Image
	err   error
}

// stamp identifies a version of a file; ok is false when it does not exist.
type stamp struct {
	ok    bool
	fi    os.FileInfo
	size  int64
	mtime time.Time
}

func stampOf(p string) (stamp, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return stamp{}, nil
	}
	if err != nil {
		return stamp{}, err
	}
	return stamp{ok: true, fi: fi, size: fi.Size(), mtime: fi.ModTime()}, nil
}

func (a stamp) same(b stamp) bool {
	if a.ok != b.ok {
		return false
	}
	if !a.ok {
		return true
	}
	return os.SameFile(a.fi, b.fi) && a.size == b.size && a.mtime.Equal(b.mtime)
}

// NewCache returns a cache over the store.
func NewCache(s *Store) *Cache {
	return &Cache{store: s, manifests: map[string]cachedManifest{}}
}

// Store is the store the cache reads.
func (c *Cache) Store() *Store { return c.store }

// ActiveVersion returns the active version, "" when none is.
func (c *Cache) ActiveVersion() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := stampOf(filepath.Join(c.store.dir, StateFile))
	if err != nil {
		return "", err
	}
	if !c.loaded || !st.same(c.state) {
		c.reloadState(st)
		c.loaded = true
	}
	return c.active, c.stateErr
}

func (c *Cache) reloadState(st stamp) {
	prev, wasLoaded := c.active, c.loaded
	c.state = st
	c.active, c.stateErr = "", nil
	if st.ok {
		s, err := c.store.State()
		c.active, c.stateErr = s.Active, err
	}
	switch {
	case c.Log == nil || !wasLoaded:
	case c.stateErr != nil:
		c.Log.Error("read the active image", "err", c.stateErr)
	case c.active != prev:
		c.Log.Info("active image changed: machines boot it from their next boot", "active", c.active, "was", prev)
	}
}

// Image returns the manifest of version, from the cache when its
// manifest.json has not changed.
func (c *Cache) Image(version string) (Image, error) {
	if err := CheckVersion(version); err != nil {
		return Image{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := stampOf(filepath.Join(c.store.dir, version, v1alpha1.ImageManifestFile))
	if err != nil {
		return Image{}, err
	}
	if m, ok := c.manifests[version]; ok && st.ok && m.stamp.same(st) {
		return m.img, m.err
	}
	img, err := c.store.Get(version)
	if st.ok {
		c.manifests[version] = cachedManifest{stamp: st, img: img, err: err}
	} else {
		delete(c.manifests, version)
	}
	return img, err
}
