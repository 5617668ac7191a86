package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

func newAPI(t testing.TB) (*API, *registry.Store) {
	reg, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return New(Options{Registry: reg, Policy: enroll.Policy{Mode: enroll.Auto}, Profiles: Fallback{}, AdminHash: enroll.Hash("admin")}), reg
}

func post(a *API, path, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func TestBadRegistrationsAreRefusedAndWriteNothing(t *testing.T) {
	good := `{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"}}}`
	tests := []struct {
		name, body, want string
		code             int
	}{
		{"malformed JSON", `{"apiVersion":`, "malformed JSON", 400},
		{"unknown field", strings.Replace(good, `"kind"`, `"sneaky":1,"kind"`, 1), `unknown field "sneaky"`, 400},
		{"two documents", good + good, "more than one document", 400},
		{"wrong kind", strings.Replace(good, "RegisterRequest", "Node", 1), `want apiVersion "corral.io/v1alpha1" and kind "RegisterRequest"`, 400},
		{"no node id", strings.Replace(good, `"nodeID":"n1"`, `"nodeID":""`, 1), "is not a node id", 400},
		{"a node id with a path in it", strings.Replace(good, `"n1"`, `"../../etc"`, 1), "is not a node id", 400},
		{"oversized body", `{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"warnings":["` + strings.Repeat("x", MaxBody) + `"]}}`, "larger than", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, reg := newAPI(t)
			w := post(a, v1alpha1.PathRegister, tt.body)
			var e v1alpha1.Error
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tt.code || !strings.Contains(e.Message, tt.want) {
				t.Errorf("got %d %q; want %d containing %q", w.Code, e.Message, tt.code, tt.want)
			}
			if nodes, _ := reg.List(); len(nodes) != 0 {
				t.Errorf("a refused request wrote %d nodes", len(nodes))
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		a, _ := newAPI(t)
		r := httptest.NewRequest(http.MethodPost, v1alpha1.PathRegister, strings.NewReader(good))
		r.Header.Set("Content-Type", "text/plain")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("got %d, want 415", w.Code)
		}
	})
}

// FuzzRegister feeds arbitrary bodies to the registration endpoint: never a
// panic, never a 5xx, and a refused body writes nothing.
func FuzzRegister(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"},"nics":[{"name":"eth0","mac":"52:54:00:00:00:01"}]}}`))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"}},"credential":"n1.x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"inventory":{"disks":[{"sizeBytes":-1}]}}`))
	a, reg := newAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := reg.List()
		r := httptest.NewRequest(http.MethodPost, v1alpha1.PathRegister, bytes.NewReader(body))
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if w.Code >= 400 {
			if after, _ := reg.List(); len(after) != len(before) {
				t.Fatalf("refused body changed the registry")
			}
		}
	})
}
