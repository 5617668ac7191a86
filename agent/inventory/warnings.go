package inventory

import (
	"fmt"
	"sync"
)

// warnings collects notes about facts that could not be read. It is safe
// for use by the concurrent readers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) add(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, fmt.Sprintf(format, args...))
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
