package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

// logAPI is an API with a boot log store, and a registered node with its
// enrollment token.
func logAPI(t testing.TB, o bootlog.Options) (*API, *registry.Store, *bootlog.Store, string) {
	t.Helper()
	dir := t.TempDir()
	reg, err := registry.Open(filepath.Join(dir, "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	logs, err := bootlog.Open(filepath.Join(dir, "bootlogs.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	a := New(Options{Registry: reg, BootLogs: logs, Policy: enroll.Policy{Mode: enroll.Manual}, Profiles: Fallback{}, AdminHash: enroll.Hash("admin")})
	w := post(a, v1alpha1.PathRegister, `{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"}}}`)
	var rr v1alpha1.RegisterResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &rr) != nil {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	return a, reg, logs, rr.EnrollmentToken
}

const goodBatch = `{"apiVersion":"corral.io/v1alpha1","kind":"LogBatch","boot":"b1","records":[{"seq":1,"time":"2026-11-22T07:01:02Z","level":"INFO","msg":"network up","attrs":{"iface":"eth0"}}]}`

func TestBadLogBatchesAreRefusedAndWriteNothing(t *testing.T) {
	a, _, logs, token := logAPI(t, bootlog.Options{})
	auth := []string{"Authorization", "Bearer " + token}
	rec := func(s string) string {
		return strings.Replace(goodBatch, `{"seq":1,"time":"2026-11-22T07:01:02Z","level":"INFO","msg":"network up","attrs":{"iface":"eth0"}}`, s, 1)
	}
	many := make([]string, v1alpha1.MaxLogRecords+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"seq":%d,"level":"INFO","msg":""}`, i+1)
	}
	tests := []struct {
		name, body, want string
		code             int
		hdr              []string
	}{
		{"no token", goodBatch, "missing or malformed token", 401, nil},
		{"forged token", goodBatch, "token not valid", 401, []string{"Authorization", "Bearer n1.forged"}},
		{"another node's id", goodBatch, "token not valid", 401, []string{"Authorization", "Bearer n2." + strings.SplitN(token, ".", 2)[1]}},
		{"malformed JSON", `{"boot":`, "malformed JSON", 400, auth},
		{"unknown field", strings.Replace(goodBatch, `"boot"`, `"node":"n2","boot"`, 1), `unknown field "node"`, 400, auth},
		{"two documents", goodBatch + goodBatch, "more than one document", 400, auth},
		{"wrong kind", strings.Replace(goodBatch, "LogBatch", "Heartbeat", 1), `kind "LogBatch"`, 400, auth},
		{"bad boot id", strings.Replace(goodBatch, `"b1"`, `"../etc"`, 1), "is not a boot id", 400, auth},
		{"seq zero", rec(`{"seq":0,"level":"INFO","msg":"x"}`), "seq starts at 1", 400, auth},
		{"seq going back", rec(`{"seq":2,"level":"INFO","msg":"x"},{"seq":2,"level":"INFO","msg":"y"}`), "does not follow", 400, auth},
		{"no level", rec(`{"seq":1,"level":"","msg":"x"}`), "level must be", 400, auth},
		{"long message", rec(`{"seq":1,"level":"INFO","msg":"` + strings.Repeat("x", v1alpha1.MaxLogMessage+1) + `"}`), "truncate it", 400, auth},
		{"long attr", rec(`{"seq":1,"level":"INFO","msg":"x","attrs":{"k":"` + strings.Repeat("v", v1alpha1.MaxLogAttrValue+1) + `"}}`), "values at most", 400, auth},
		{"too many records", rec(strings.Join(many, ",")), "send at most 500", 400, auth},
		{"oversize body", rec(`{"seq":1,"level":"INFO","msg":"` + strings.Repeat("x", MaxBody) + `"}`), "larger than", 413, auth},
		{"not JSON", goodBatch, "want application/json", 415, append([]string{"Content-Type", "text/plain"}, auth...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := post(a, v1alpha1.PathLogs, tt.body, tt.hdr...)
			var e v1alpha1.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != tt.code || !strings.Contains(e.Message, tt.want) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body, tt.code, tt.want)
			}
			if l, err := logs.Read("n1", bootlog.Query{}); err != nil || len(l.Items) != 0 {
				t.Errorf("a refused batch wrote %d records (%v)", len(l.Items), err)
			}
		})
	}
	if w := post(a, v1alpha1.PathLogs, goodBatch, auth...); w.Code != 200 {
		t.Errorf("the good batch: %d %s", w.Code, w.Body)
	}
}

func TestLogsOfADecommissionedNodeAreRefusedAndForgetDeletesThem(t *testing.T) {
	a, reg, logs, token := logAPI(t, bootlog.Options{})
	if w := post(a, v1alpha1.PathLogs, goodBatch, "Authorization", "Bearer "+token); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, err := reg.Transition("n1", registry.Decommissioned, "test"); err != nil {
		t.Fatal(err)
	}
	if w := post(a, v1alpha1.PathLogs, strings.Replace(goodBatch, `"seq":1`, `"seq":2`, 1), "Authorization", "Bearer "+token); w.Code != 403 {
		t.Errorf("decommissioned node: %d %s", w.Code, w.Body)
	}
	// Its logs stay readable until it is forgotten.
	if l, _ := logs.Read("n1", bootlog.Query{}); len(l.Items) != 1 {
		t.Errorf("decommissioned node kept %d records, want 1", len(l.Items))
	}
	r := httptest.NewRequest(http.MethodDelete, "/api/v1alpha1/nodes/n1", nil)
	r.Header.Set("Authorization", "Bearer admin")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code != 204 {
		t.Fatalf("forget: %d %s", w.Code, w.Body)
	}
	if l, _ := logs.Read("n1", bootlog.Query{}); len(l.Items) != 0 || len(l.Boots) != 0 {
		t.Errorf("forgotten node kept %d records", len(l.Items))
	}
}

func TestALimitedNodeIsToldToComeBack(t *testing.T) {
	a, _, _, token := logAPI(t, bootlog.Options{Rate: bootlog.Rate{PerSecond: 0.5, Burst: 1, BytesPerSecond: 1 << 20, BytesBurst: 1 << 20}})
	auth := []string{"Authorization", "Bearer " + token}
	if w := post(a, v1alpha1.PathLogs, goodBatch, auth...); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w := post(a, v1alpha1.PathLogs, strings.Replace(goodBatch, `"seq":1`, `"seq":2`, 1), auth...)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("flood: %d %s, Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
}

func TestReadingLogsChecksItsQuery(t *testing.T) {
	a, _, _, _ := logAPI(t, bootlog.Options{})
	for _, tt := range []struct{ query, want string }{
		{"boot=../x", "use current, previous, all or a boot id"},
		{"after=-1", "want a cursor"},
		{"since=yesterday", "RFC 3339"},
		{"wait=1h", "from 0s to 25s"},
		{"limit=0", "want 1 to 5000"},
		{"boot=previous", "no such boot"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1alpha1/nodes/n1/logs?"+tt.query, nil)
		r.Header.Set("Authorization", "Bearer admin")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code/100 != 4 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s: %d %s, want 4xx containing %q", tt.query, w.Code, w.Body, tt.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1alpha1/nodes/n1/logs", nil)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("without the admin token: %d", w.Code)
	}
}

// serveTLS runs a over HTTPS with the controller's CA, as Serve does.
func serveTLS(t *testing.T, a *API) (string, []byte) {
	t.Helper()
	ca, err := enroll.LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, ca.Serving) }()
	t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String(), ca.PEM
}

func TestFollowWaitsForTheNextRecord(t *testing.T) {
	a, _, _, token := logAPI(t, bootlog.Options{})
	url, caPEM := serveTLS(t, a)
	admin, err := client.New(url, client.Trust{CAPEM: caPEM}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	agent := admin.WithToken(token)
	first, err := admin.NodeLogs(t.Context(), "n1", client.LogQuery{})
	if err != nil || len(first.Items) != 0 {
		t.Fatalf("empty log: %+v %v", first, err)
	}
	got := make(chan v1alpha1.LogList, 1)
	go func() {
		l, err := admin.NodeLogs(context.Background(), "n1", client.LogQuery{After: first.Next, Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	start := time.Now()
	// The follower is (very likely) waiting by now; if not, it finds the
	// record at once: the test passes either way, and checks the content.
	var b v1alpha1.LogBatch
	if err := json.NewDecoder(bytes.NewReader([]byte(goodBatch))).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SendLogs(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	l := <-got
	if len(l.Items) != 1 || l.Items[0].Msg != "network up" || l.Items[0].Attrs["iface"] != "eth0" || l.Next != 1 {
		t.Errorf("follow: %+v", l)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("follow answered after %s: it did not wake on the new record", time.Since(start))
	}
	// Nothing new: the wait ends empty, with the same cursor.
	l, err = admin.NodeLogs(t.Context(), "n1", client.LogQuery{After: l.Next, Wait: 50 * time.Millisecond})
	if err != nil || len(l.Items) != 0 || l.Next != 1 {
		t.Errorf("empty wait: %+v %v", l, err)
	}
}

// TestAcknowledgedLogsSurviveARestart stops the API and closes its stores
// right after the acknowledgement, then reads them with a new API.
func TestAcknowledgedLogsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*API, func()) {
		reg, err := registry.Open(filepath.Join(dir, "r.db"))
		if err != nil {
			t.Fatal(err)
		}
		logs, err := bootlog.Open(filepath.Join(dir, "bootlogs.db"), bootlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return New(Options{Registry: reg, BootLogs: logs, Policy: enroll.Policy{Mode: enroll.Manual}, Profiles: Fallback{}, AdminHash: enroll.Hash("admin")}),
			func() { logs.Close(); reg.Close() }
	}
	a, stop := open()
	w := post(a, v1alpha1.PathRegister, `{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"}}}`)
	var rr v1alpha1.RegisterResponse
	_ = json.Unmarshal(w.Body.Bytes(), &rr)
	if w := post(a, v1alpha1.PathLogs, goodBatch, "Authorization", "Bearer "+rr.EnrollmentToken); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	stop()
	a, stop = open()
	defer stop()
	r := httptest.NewRequest(http.MethodGet, "/api/v1alpha1/nodes/n1/logs?boot=current", nil)
	r.Header.Set("Authorization", "Bearer admin")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, r)
	var l v1alpha1.LogList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || len(l.Items) != 1 || l.Items[0].Msg != "network up" {
		t.Errorf("after restart: %d %s", rec.Code, rec.Body)
	}
	// The agent resends the batch (it never saw the answer): still one.
	if w := post(a, v1alpha1.PathLogs, goodBatch, "Authorization", "Bearer "+rr.EnrollmentToken); w.Code != 200 || !strings.Contains(w.Body.String(), `"stored":0`) {
		t.Errorf("resend after restart: %d %s", w.Code, w.Body)
	}
}

func FuzzLogBatch(f *testing.F) {
	f.Add([]byte(goodBatch))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"LogBatch","boot":"b","dropped":3,"records":[]}`))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"LogBatch","boot":"b","records":[{"seq":1,"level":"INFO","msg":"\u00e9","attrs":{"":""}}]}`))
	f.Add([]byte(`{"records":[{"seq":18446744073709551615}]}`))
	f.Add([]byte(`[]`))
	a, _, logs, token := logAPI(f, bootlog.Options{Rate: bootlog.Rate{PerSecond: 1e9, Burst: 1e9, BytesPerSecond: 1e12, BytesBurst: 1e12}})
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := logs.Read("n1", bootlog.Query{})
		r := httptest.NewRequest(http.MethodPost, v1alpha1.PathLogs, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		after, _ := logs.Read("n1", bootlog.Query{})
		if w.Code >= 400 && len(after.Items) != len(before.Items) {
			t.Fatalf("refused body changed the log")
		}
		if w.Code == 200 {
			var b v1alpha1.LogBatch
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatalf("accepted %q, which does not decode: %v", body, err)
			}
			if err := checkLogBatch(&b); err != nil {
				t.Fatalf("accepted %q: %v", body, err)
			}
		}
	})
}
