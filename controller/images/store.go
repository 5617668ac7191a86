// Package images is the controller's store of node images: the directory
// the HTTP server serves at /images/<version>/<file>, which image is active
// (what a booting node gets unless its profile pins another) and the history
// of active images that rollback walks back through.
//
// # Layout
//
//	<dir>/<version>/manifest.json   the image's manifest (package image)
//	<dir>/<version>/<artifact>      every file the manifest lists
//	<dir>/.state.json               {"active": "...", "history": [...]}
//	<dir>/.lock                     flock(2) taken by every change
//	<dir>/.import-*                 an import in progress (removed on failure;
//	                                one left by a killed import is removed by
//	                                the next import)
//
// Names starting with "." are the store's own; a version name never starts
// with one (see CheckVersion).
//
// # Consistency
//
// An import copies into a temporary directory inside dir and renames it to
// <version> only once every artifact has been copied, fsynced and checked
// against the manifest's size and sha256, so a failed or interrupted import
// leaves no <version> directory. The state file is replaced with
// atomicfile.Write (temporary file, fsync, rename), so a reader — the
// running controller, another CLI — sees the old state or the new one,
// never half of one; a temporary file left by a crash is ignored. Every
// read-modify-write of the state (activate, rollback) and the final rename
// of an import hold an exclusive flock on .lock, so two commands run at the
// same time do not lose each other's change.
package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/atomicfile"
)

// Store file names inside the images directory.
const (
	StateFile    = ".state.json"
	lockFile     = ".lock"
	importPrefix = ".import-"
)

// MaxHistory bounds how many previously active versions the state keeps.
const MaxHistory = 50

// Errors callers may test for with errors.Is.
var (
	// ErrNoActive: no image has been activated.
	ErrNoActive = errors.New("no image is active")
	// ErrNoPrevious: rollback has nothing to go back to.
	ErrNoPrevious = errors.New("no previously active image")
	// ErrNotFound: no image of that version in the store.
	ErrNotFound = errors.New("no such image")
	// ErrVerify: an artifact is missing or does not match the manifest.
	ErrVerify = errors.New("image verification failed")
	// ErrConflict: the version is in the store with different content.
	ErrConflict = errors.New("image version already in the store with different content")
)

// versionRE is what a version may look like: one path element, no leading
// dot (the store's own names start with one), nothing a URL or an iPXE
// script would treat specially.
var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// CheckVersion reports whether v can name an image: 1 to 64 characters
// out of letters, digits, ".", "_", "+", "-", starting with a letter or a
// digit — what a profile's imageVersion may be.
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: want 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (e.g. 0.2.0)", v)
	}
	return nil
}

// checkArtifactName refuses an artifact name that is not a plain file name.
func checkArtifactName(n string) error {
	if !versionRE.MatchString(n) || n == v1alpha1.ImageManifestFile {
		return fmt.Errorf("artifact name %q: want a plain file name of letters, digits, '.', '_', '+' or '-' (and not %s)", n, v1alpha1.ImageManifestFile)
	}
	return nil
}

// Progress reports how far an import or a verification is.
type Progress struct {
	// Op is "copy" (import) or "verify" (hashing an image in the store).
	Op string
	// Version is the image; Artifact the file being read.
	Version, Artifact string
	// Done and Total are bytes of this artifact.
	Done, Total int64
}

// Store is the images directory. Its methods may be called from several
// goroutines and processes at once.
type Store struct {
	dir string
	// Progress, when set, is called while artifacts are copied or hashed:
	// at the start and end of each artifact and every few MiB in between.
	Progress func(Progress)
}

// Open returns the store over dir. It does not create dir: List and
// Active see an empty store when it is missing, Import creates it.
func Open(dir string) *Store { return &Store{dir: dir} }

// Dir is the images directory.
func (s *Store) Dir() string { return s.dir }

// Image is one image in the store.
type Image struct {
	// Version is the image version, also its directory name.
	Version string
	// Dir is the image's directory.
	Dir string
	// Manifest is its manifest.json.
	Manifest v1alpha1.ImageManifest
	// Built is the modification time of manifest.json: when the build
	// wrote it (import keeps the source's times).
	Built time.Time
}

// Size is the total size of the image's artifacts in bytes.
func (i Image) Size() int64 {
	var n int64
	for _, a := range i.Manifest.Artifacts {
		n += a.Size
	}
	return n
}

// State is the content of the state file.
type State struct {
	// Active is the version booting nodes get; empty when none is.
	Active string `json:"active,omitempty"`
	// History are the versions active before, oldest first; rollback
	// returns to the last one.
	History []string `json:"history,omitempty"`
	// Changed is when the state was last written.
	Changed time.Time `json:"changed,omitzero"`
}

// List returns the images in the store sorted by version (numbers within a
// version compared as numbers). A directory without a readable manifest is
// skipped and reported in skipped, with why.
func (s *Store) List() (imgs []Image, skipped []error, err error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("images directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		img, err := s.Get(e.Name())
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b Image) int { return CompareVersions(a.Version, b.Version) })
	return imgs, skipped, nil
}

// Get reads one image's manifest. It does not verify the artifacts.
func (s *Store) Get(version string) (Image, error) {
	if err := CheckVersion(version); err != nil {
		return Image{}, err
	}
	dir := filepath.Join(s.dir, version)
	p := filepath.Join(dir, v1alpha1.ImageManifestFile)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(dir); derr != nil {
			return Image{}, fmt.Errorf("%w: %s in %s (corral image list shows what is there; add one with corral image import DIR)", ErrNotFound, version, s.dir)
		}
		return Image{}, fmt.Errorf("%s: no %s: not an image imported with corral image import", dir, v1alpha1.ImageManifestFile)
	}
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", version, err)
	}
	m, err := v1alpha1.ReadImageManifest(p)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", version, err)
	}
	if m.Version != version {
		return Image{}, fmt.Errorf("image %s: its manifest says version %q: the directory was renamed by hand; import the image again", dir, m.Version)
	}
	return Image{Version: version, Dir: dir, Manifest: m, Built: fi.ModTime()}, nil
}

// Verify reads every artifact of an image in the store and checks its size
// and sha256 against the manifest.
func (s *Store) Verify(version string) (Image, error) {
	img, err := s.Get(version)
	if err != nil {
		return Image{}, err
	}
	for _, a := range img.Manifest.Artifacts {
		if err := s.verifyFile(version, filepath.Join(img.Dir, a.Name), a); err != nil {
			return Image{}, fmt.Errorf("image %s: %w", version, err)
		}
	}
	return img, nil
}

// verifyFile hashes p and compares it with a.
func (s *Store) verifyFile(version, p string, a v1alpha1.ImageArtifact) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is missing", ErrVerify, a.Name)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrVerify, a.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := s.copyProgress(h, f, Progress{Op: "verify", Version: version, Artifact: a.Name, Total: a.Size})
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrVerify, a.Name, err)
	}
	return compare(a, n, h.Sum(nil))
}

// compare checks a size and digest against the manifest's.
func compare(a v1alpha1.ImageArtifact, size int64, sum []byte) error {
	if size != a.Size {
		return fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrVerify, a.Name, size, a.Size)
	}
	if got := hex.EncodeToString(sum); got != a.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, the manifest says %s", ErrVerify, a.Name, got, a.SHA256)
	}
	return nil
}

// progressStep is how often, in bytes, Progress is called within a file.
const progressStep = 8 << 20

// copyProgress copies src to dst and reports progress.
func (s *Store) copyProgress(dst io.Writer, src io.Reader, p Progress) (int64, error) {
	report := func() {
		if s.Progress != nil {
			s.Progress(p)
		}
	}
	report()
	buf := make([]byte, 1<<20)
	next := int64(progressStep)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return p.Done, werr
			}
			p.Done += int64(n)
			if p.Done >= next && p.Done < p.Total { // the end is reported at EOF
				report()
				next = p.Done + progressStep
			}
		}
		if errors.Is(err, io.EOF) {
			report()
			return p.Done, nil
		}
		if err != nil {
			return p.Done, err
		}
	}
}

// ImportResult says what Import did.
type ImportResult struct {
	Image Image
	// Unchanged is true when the same image was already in the store.
	Unchanged bool
}

// Import copies the image in srcDir (manifest.json and every artifact it
// lists; other files are left behind) into the store, checking each
// artifact's size and sha256 as it is copied. Importing a version that is
// already there with the same manifest is a no-op (the stored copy is
// verified); with a different manifest it is an error wrapping ErrConflict.
func (s *Store) Import(srcDir string) (ImportResult, error) {
	mpath := filepath.Join(srcDir, v1alpha1.ImageManifestFile)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import %s: %w (want the output directory of corral image build)", srcDir, err)
	}
	// Parsed from the bytes read, which are the bytes stored: a manifest
	// rewritten meanwhile cannot make them differ.
	m, err := parseManifest(mpath, raw)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	if err := checkManifest(m); err != nil {
		return ImportResult{}, fmt.Errorf("import %s: %w", mpath, err)
	}
	if res, done, err := s.existing(m); done || err != nil {
		return res, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return ImportResult{}, fmt.Errorf("import: create images directory: %w", err)
	}
	tmp, held, err := s.importDir(m.Version)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(tmp) // nothing left after the rename
	defer held.Close()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	for _, a := range m.Artifacts {
		if err := s.copyArtifact(m.Version, filepath.Join(srcDir, a.Name), filepath.Join(tmp, a.Name), a); err != nil {
			return ImportResult{}, fmt.Errorf("import %s: %w", srcDir, err)
		}
	}
	// The manifest last, with the source's modification time (BUILT).
	if err := atomicfile.Write(filepath.Join(tmp, v1alpha1.ImageManifestFile), raw, 0o644); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	if fi, err := os.Stat(mpath); err == nil {
		_ = os.Chtimes(filepath.Join(tmp, v1alpha1.ImageManifestFile), fi.ModTime(), fi.ModTime())
	}
	if err := syncDir(tmp); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}

	unlock, err := s.lock()
	if err != nil {
		return ImportResult{}, err
	}
	defer unlock()
	// Another import of the same version may have finished meanwhile.
	if res, done, err := s.existing(m); done || err != nil {
		return res, err
	}
	final := filepath.Join(s.dir, m.Version)
	if err := os.Rename(tmp, final); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	img, err := s.Get(m.Version)
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Image: img}, nil
}

// importTestHook, when set (tests), is called between creating an import's
// temporary directory and locking it.
var importTestHook func(version, tmp string)

// importDir removes what killed imports left and creates the temporary
// directory of a new import, locked: held while the import runs, so that
// sweepImports (which removes only directories nobody holds) leaves it
// alone. The store's lock is held meanwhile: without it, another
// process's sweep could remove the directory between its creation and
// its lock.
func (s *Store) importDir(version string) (tmp string, held *os.File, err error) {
	unlock, err := s.lock()
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	s.sweepImports()
	tmp, err = os.MkdirTemp(s.dir, importPrefix+version+"-")
	if err != nil {
		return "", nil, err
	}
	if importTestHook != nil {
		importTestHook(version, tmp)
	}
	held, err = flockDir(tmp, syscall.LOCK_EX)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return tmp, held, nil
}

// parseManifest parses and checks the manifest.json read from p, as
// v1alpha1.ReadImageManifest does.
func parseManifest(p string, data []byte) (v1alpha1.ImageManifest, error) {
	var m v1alpha1.ImageManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return v1alpha1.ImageManifest{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if m.APIVersion != v1alpha1.Version || m.Kind != v1alpha1.KindImageManifest {
		return v1alpha1.ImageManifest{}, fmt.Errorf("%s: apiVersion %q, kind %q: want %s, %s", p, m.APIVersion, m.Kind, v1alpha1.Version, v1alpha1.KindImageManifest)
	}
	return m, nil
}

// existing handles an import of a version the store already has: done is
// true when there is nothing more to do.
func (s *Store) existing(m v1alpha1.ImageManifest) (ImportResult, bool, error) {
	if _, err := os.Stat(filepath.Join(s.dir, m.Version)); errors.Is(err, fs.ErrNotExist) {
		return ImportResult{}, false, nil
	}
	have, err := s.Get(m.Version)
	if err != nil {
		return ImportResult{}, true, fmt.Errorf("import: %s already exists and is not a usable image: %w (move it away and import again)", filepath.Join(s.dir, m.Version), err)
	}
	if !reflect.DeepEqual(have.Manifest, m) {
		return ImportResult{}, true, fmt.Errorf("import: %w: %s (%s); build with another --version, or import into another images directory", ErrConflict, m.Version, manifestDiff(have.Manifest, m))
	}
	img, err := s.Verify(m.Version)
	if err != nil {
		return ImportResult{}, true, fmt.Errorf("import: %s is already in the store but its copy is damaged: %w (move %s away and import again)", m.Version, err, have.Dir)
	}
	return ImportResult{Image: img, Unchanged: true}, true, nil
}

// manifestDiff says briefly how two manifests of one version differ.
func manifestDiff(have, want v1alpha1.ImageManifest) string {
	for _, w := range want.Artifacts {
		h, ok := have.Artifact(w.Name)
		switch {
		case !ok:
			return "the store's copy has no " + w.Name
		case h.SHA256 != w.SHA256:
			return w.Name + " differs"
		}
	}
	for _, h := range have.Artifacts {
		if _, ok := want.Artifact(h.Name); !ok {
			return "the new one has no " + h.Name
		}
	}
	return "the manifests differ"
}

// checkManifest refuses a manifest the store cannot hold safely.
func checkManifest(m v1alpha1.ImageManifest) error {
	if err := CheckVersion(m.Version); err != nil {
		return err
	}
	if len(m.Artifacts) == 0 {
		return errors.New("the manifest lists no artifacts")
	}
	seen := map[string]bool{}
	for _, a := range m.Artifacts {
		if err := checkArtifactName(a.Name); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("artifact %s is listed twice", a.Name)
		}
		seen[a.Name] = true
		if a.Size < 0 {
			return fmt.Errorf("artifact %s: negative size %d", a.Name, a.Size)
		}
		if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != sha256.Size || strings.ToLower(a.SHA256) != a.SHA256 {
			return fmt.Errorf("artifact %s: sha256 %q is not 64 lower-case hex digits", a.Name, a.SHA256)
		}
	}
	return nil
}

// copyArtifact copies src to dst, hashing on the way, and checks the copy.
func (s *Store) copyArtifact(version, src, dst string, a v1alpha1.ImageArtifact) error {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is listed in the manifest but missing", ErrVerify, a.Name)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrVerify, a.Name, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrVerify, a.Name)
	}
	if fi.Size() != a.Size {
		return fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrVerify, a.Name, fi.Size(), a.Size)
	}
	h := sha256.New()
	var n int64
	err = writeSynced(dst, in, func(w io.Writer, r io.Reader) error {
		var err error
		n, err = s.copyProgress(io.MultiWriter(w, h), r, Progress{Op: "copy", Version: version, Artifact: a.Name, Total: a.Size})
		return err
	})
	if err != nil {
		return err
	}
	if err := compare(a, n, h.Sum(nil)); err != nil {
		return err
	}
	_ = os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	return nil
}

// writeSynced creates p with the content of r (copied by copyFn when set),
// mode 0644, and fsyncs it. It streams, for artifacts of hundreds of MiB,
// which atomicfile.Write (a []byte) does not; it need not be atomic: it
// writes only into an import's temporary directory, which is renamed into
// place, whole, once every file in it is synced.
func writeSynced(p string, r io.Reader, copyFn func(io.Writer, io.Reader) error) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if copyFn == nil {
		copyFn = func(w io.Writer, r io.Reader) error { _, err := io.Copy(w, r); return err }
	}
	if err := copyFn(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// flockDir opens dir and takes a flock on it.
func flockDir(dir string, how int) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// sweepImports removes the temporary directories of imports that were
// killed before they could clean up: those whose lock nobody holds.
func (s *Store) sweepImports() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), importPrefix) {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		f, err := flockDir(p, syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			continue // an import in progress, or gone already
		}
		_ = os.RemoveAll(p)
		f.Close()
	}
}

// lock takes the store's exclusive lock, waiting for it.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	p := filepath.Join(s.dir, lockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the images directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// State reads the state file; a store with none has the zero State.
func (s *Store) State() (State, error) {
	p := filepath.Join(s.dir, StateFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read image state: %w", err)
	}
	return parseState(p, data)
}

func parseState(p string, data []byte) (State, error) {
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("image state %s is damaged (%v): remove it and run corral image activate VERSION", p, err)
	}
	if st.Active != "" {
		if err := CheckVersion(st.Active); err != nil {
			return State{}, fmt.Errorf("image state %s: active %w: remove it and run corral image activate VERSION", p, err)
		}
	}
	for _, v := range st.History {
		if err := CheckVersion(v); err != nil {
			return State{}, fmt.Errorf("image state %s: history %w: remove it and run corral image activate VERSION", p, err)
		}
	}
	return st, nil
}

func (s *Store) writeState(st State) error {
	st.Changed = time.Now().UTC()
	if len(st.History) > MaxHistory {
		st.History = st.History[len(st.History)-MaxHistory:]
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.dir, StateFile), append(data, '\n'), 0o644)
}

// Active returns the active image (its manifest; artifacts are verified
// when it is activated, not here). The error wraps ErrNoActive when no
// image is active.
func (s *Store) Active() (Image, error) {
	st, err := s.State()
	if err != nil {
		return Image{}, err
	}
	if st.Active == "" {
		return Image{}, fmt.Errorf("%w in %s: run corral image import DIR && corral image activate VERSION", ErrNoActive, s.dir)
	}
	img, err := s.Get(st.Active)
	if err != nil {
		return Image{}, fmt.Errorf("active image: %w", err)
	}
	return img, nil
}

// Change is what Activate or Rollback did.
type Change struct {
	// Image is the image now active.
	Image Image
	// Previous is the version active before, "" when none was.
	Previous string
	// Unchanged is true when Image was already active.
	Unchanged bool
}

// Activate verifies every artifact of version and makes it the active
// image; the version active before goes on the history. Activating the
// active version again verifies it and changes nothing.
func (s *Store) Activate(version string) (Change, error) {
	img, err := s.Verify(version)
	if err != nil {
		return Change{}, fmt.Errorf("activate: %w", err)
	}
	unlock, err := s.lock()
	if err != nil {
		return Change{}, err
	}
	defer unlock()
	st, err := s.State()
	if err != nil {
		return Change{}, err
	}
	if st.Active == version {
		return Change{Image: img, Previous: version, Unchanged: true}, nil
	}
	prev := st.Active
	if prev != "" {
		st.History = append(st.History, prev)
	}
	st.Active = version
	if err := s.writeState(st); err != nil {
		return Change{}, fmt.Errorf("activate: %w", err)
	}
	return Change{Image: img, Previous: prev}, nil
}

// Rollback makes the previously active version active again, after
// verifying it, and drops it from the history: rolling back twice goes two
// steps back. The error wraps ErrNoPrevious when the history is empty.
func (s *Store) Rollback() (Change, error) {
	unlock, err := s.lock()
	if err != nil {
		return Change{}, err
	}
	defer unlock()
	st, err := s.State()
	if err != nil {
		return Change{}, err
	}
	if len(st.History) == 0 {
		if st.Active == "" {
			return Change{}, fmt.Errorf("rollback: %w and %w: nothing to roll back to (corral image activate VERSION makes one active)", ErrNoActive, ErrNoPrevious)
		}
		return Change{}, fmt.Errorf("rollback: %w: %s is the first image activated here, nothing to roll back to (corral image activate VERSION switches to another)", ErrNoPrevious, st.Active)
	}
	target := st.History[len(st.History)-1]
	img, err := s.Verify(target)
	if err != nil {
		return Change{}, fmt.Errorf("rollback to %s: %w (activate another with corral image activate VERSION)", target, err)
	}
	prev := st.Active
	st.Active = target
	st.History = st.History[:len(st.History)-1]
	if err := s.writeState(st); err != nil {
		return Change{}, fmt.Errorf("rollback: %w", err)
	}
	return Change{Image: img, Previous: prev}, nil
}

// CompareVersions orders versions with runs of digits compared as numbers:
// 0.9.0 < 0.10.0.
func CompareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, rest1 := run(a)
		rb, rest2 := run(b)
		if c := compareRun(ra, rb); c != 0 {
			return c
		}
		a, b = rest1, rest2
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// run splits s into its first run of digits or of non-digits and the rest.
func run(s string) (string, string) {
	i := 1
	for i < len(s) && isDigit(s[i]) == isDigit(s[0]) {
		i++
	}
	return s[:i], s[i:]
}

func compareRun(a, b string) int {
	if isDigit(a[0]) && isDigit(b[0]) {
		x, errx := strconv.ParseUint(a, 10, 64)
		y, erry := strconv.ParseUint(b, 10, 64)
		if errx == nil && erry == nil && x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}
