package snapshotd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// A fake snapshotd records the lines it accepted; fail decides an answer per request.
type fake struct {
	mu       sync.Mutex
	lines    []string
	leaves   int
	requests int
	fail     func(n int, lines []string) (status int, retryAfter string)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if strings.HasSuffix(r.URL.Path, "/leave") {
		f.leaves++
		w.Write([]byte(`{"leaving":true,"durable":true}`))
		return
	}
	if r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, `{"error":"content type"}`, 415)
		return
	}
	var lines []string
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	if f.fail != nil {
		if status, ra := f.fail(f.requests, lines); status != 0 {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"refused with %d"}`, status)
			return
		}
	}
	f.lines = append(f.lines, lines...)
	fmt.Fprintf(w, `{"accepted":%d,"durable":true}`, len(lines))
}

func (f *fake) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

func userLTimes(t *testing.T, lines []string) []uint64 {
	var out []uint64
	for _, l := range lines {
		var e struct {
			Type  string `json:"type"`
			LTime uint64 `json:"ltime"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		if e.Type == "user" {
			out = append(out, e.LTime)
		}
	}
	return out
}

func checkInOrder(t *testing.T, got []uint64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d user events, want %d", len(got), n)
	}
	for i, v := range got {
		if v != uint64(i+1) {
			t.Fatalf("event %d has ltime %d: out of order or lost", i, v)
		}
	}
}

// The wire form of each event type is what openapi.yaml describes (a real snapshotd accepts
// them: TestLiveCluster).
func TestEncoding(t *testing.T) {
	join := serf.MemberEvent{Type: serf.EventMemberJoin, Members: []serf.Member{
		{Name: "a\"b", Addr: net.ParseIP("127.0.0.1"), Port: 7946, Tags: map[string]string{"role": "x"}},
		{Name: "c", Addr: net.ParseIP("fe80::1"), Port: 1},
	}}
	cases := []struct{ got, want string }{
		{string(encodeMemberEvent(join)), `{"type":"member-join","members":[{"name":"a\"b","addr":"127.0.0.1","port":7946},{"name":"c","addr":"fe80::1","port":1}]}` + "\n"},
		{string(encodeMemberEvent(serf.MemberEvent{Type: serf.EventMemberReap, Members: join.Members[1:]})), `{"type":"member-reap","members":[{"name":"c","addr":"fe80::1","port":1}]}` + "\n"},
		{string(encodeUserEvent(serf.UserEvent{LTime: 42, Name: "deploy", Payload: []byte("x"), Coalesce: true})), `{"type":"user","ltime":42,"name":"deploy","coalesce":true}` + "\n"},
		{string(encodeQuery(&serf.Query{LTime: 18446744073709551615, Name: "uptime"})), `{"type":"query","ltime":18446744073709551615,"name":"uptime"}` + "\n"},
		{string(encodeClock(100)), `{"type":"clock","ltime":100}` + "\n"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	if encodeMemberEvent(serf.MemberEvent{Type: serf.EventMemberJoin, Members: []serf.Member{{Name: "x"}}}) != nil {
		t.Error("a member without an address must not encode")
	}
}

// Events reach snapshotd in order and all of them, through 503s with Retry-After, in batches.
func TestRetriesKeepOrder(t *testing.T) {
	f := &fake{fail: func(n int, _ []string) (int, string) {
		if n%3 == 1 {
			return 503, "0"
		}
		return 0, ""
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	out := make(chan serf.Event, 10000)
	c, err := New(Config{URL: srv.URL, Name: "agent-1", Out: out, QueueSize: 64, MaxBatch: 50,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Logger: testLogger(t, "client: ")})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := 1; i <= n; i++ {
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
	}
	if err := c.Flush(ctxFor(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, userLTimes(t, f.got()), n)
	st := c.Stats()
	if st.Retries == 0 || st.GivenUp != 0 || st.Acknowledged != n {
		t.Fatalf("stats %+v", st)
	}
	if len(out) != n {
		t.Fatalf("Out got %d events, want %d", len(out), n)
	}
	if err := c.Close(ctxFor(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events in %d requests (%d retried)", n, st.Requests, st.Retries)
}

// A refused connection is retried until snapshotd is there: nothing is lost meanwhile.
func TestConnectionRefusedThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	c, err := New(Config{URL: "http://" + addr, Name: "agent-1", RetryMin: 5 * time.Millisecond,
		RetryMax: 20 * time.Millisecond, Logger: testLogger(t, "client: ")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
	}
	waitFor(t, "retries", 5*time.Second, func() bool { return c.Stats().Retries >= 3 })
	f := &fake{}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln2)
	defer srv.Close()
	if err := c.Flush(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, userLTimes(t, f.got()), 100)
	c.Close(ctxFor(time.Second))
}

// A batch snapshotd refuses (400) is split: only the event at fault is given up, and counted.
// refusingBad is a snapshotd that refuses (400) any batch holding an event named "bad".
func refusingBad() *fake {
	return &fake{fail: func(_ int, lines []string) (int, string) {
		for _, l := range lines {
			if strings.Contains(l, `"name":"bad"`) {
				return 400, ""
			}
		}
		return 0, ""
	}}
}

func TestRefusedEventIsIsolated(t *testing.T) {
	f := refusingBad()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var logs bytes.Buffer
	var mu sync.Mutex
	c, _ := New(Config{URL: srv.URL, Name: "agent-1", Logger: testLogger(t, "client: ")})
	c.logger.SetOutput(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }))
	// Hold the sender on a slow first request so the rest gathers into one batch.
	for i := 1; i <= 200; i++ {
		name := "e"
		if i == 77 {
			name = "bad"
		}
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: name}
	}
	err := c.Flush(ctxFor(10 * time.Second))
	if err == nil || !strings.Contains(err.Error(), "gave up on 1 events") {
		t.Fatalf("Flush: %v", err)
	}
	got := userLTimes(t, f.got())
	if len(got) != 199 {
		t.Fatalf("got %d events, want 199", len(got))
	}
	for i, v := range got {
		want := uint64(i + 1)
		if i >= 76 {
			want++
		}
		if v != want {
			t.Fatalf("event %d: ltime %d, want %d", i, v, want)
		}
	}
	mu.Lock()
	l := logs.String()
	mu.Unlock()
	if c.Stats().GivenUp != 1 || !strings.Contains(l, `"name":"bad"`) || !strings.Contains(l, "400") {
		t.Fatalf("given up %d; log:\n%s", c.Stats().GivenUp, l)
	}
	if err := c.Close(ctxFor(time.Second)); err == nil {
		t.Fatal("Close must report what was given up on")
	}
}

// A Flush reports an event the client gave up on before Flush was called (the sender counts
// at the flush, not from the moment of the call), and the next Flush does not report it again.
func TestFlushReportsWhatWasGivenUpBeforeIt(t *testing.T) {
	f := refusingBad()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Name: "agent-1", Logger: testLogger(t, "client: ")})
	c.EventCh() <- serf.UserEvent{LTime: 1, Name: "bad"}
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().GivenUp == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refused event was never given up on")
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Flush(ctxFor(10 * time.Second)); err == nil || !strings.Contains(err.Error(), "gave up on 1 events") {
		t.Fatalf("Flush: %v", err)
	}
	c.EventCh() <- serf.UserEvent{LTime: 2, Name: "e"}
	if err := c.Flush(ctxFor(10 * time.Second)); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	_ = c.Close(ctxFor(time.Second))
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// Close gives up (counting) on what snapshotd never acknowledges before its context ends.
func TestCloseDeadlineCountsWhatIsLeft(t *testing.T) {
	f := &fake{fail: func(int, []string) (int, string) { return 503, "1" }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Name: "agent-1", Logger: testLogger(t, "client: ")})
	for i := 1; i <= 500; i++ {
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
	}
	start := time.Now()
	err := c.Close(ctxFor(300 * time.Millisecond))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Close: %v after %v", err, time.Since(start))
	}
	if st := c.Stats(); st.GivenUp != 500 || st.Acknowledged != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Backpressure: with a full queue the tee blocks (the sender, and so Serf, waits), nothing is
// dropped; with EnqueueTimeout it gives up on the event, counted.
func TestBackpressure(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	release := make(chan struct{})
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			<-release
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Name: "agent-1", QueueSize: 8, MaxBatch: 4, Logger: testLogger(t, "client: ")})
	sent := make(chan int, 1)
	go func() {
		for i := 1; i <= 3000; i++ {
			c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
		}
		sent <- 3000
	}()
	select {
	case <-sent:
		t.Fatal("3000 events went into a queue of 8 and EventCh's buffer of 2048: no backpressure")
	case <-time.After(300 * time.Millisecond):
	}
	if q := c.Stats().Queued; q != 8 {
		// the channel buffer holds the rest; the queue stays bounded
		t.Fatalf("queue holds %d, want 8", q)
	}
	hold.Store(false)
	close(release)
	<-sent
	if err := c.Close(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, userLTimes(t, f.got()), 3000)

	// EnqueueTimeout: give up instead of blocking, and say so.
	block := make(chan struct{})
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer func() { close(block); srv2.Close() }()
	c2, _ := New(Config{URL: srv2.URL, Name: "agent-1", QueueSize: 4, MaxBatch: 1, EnqueueTimeout: 10 * time.Millisecond, Logger: testLogger(t, "client2: ")})
	for i := 1; i <= 20; i++ {
		c2.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
	}
	waitFor(t, "gave-up events", 5*time.Second, func() bool { return c2.Stats().GivenUp >= 10 })
	c2.Close(ctxFor(100 * time.Millisecond))
	st := c2.Stats()
	if st.GivenUp+st.Acknowledged != 20 {
		t.Fatalf("stats %+v: every event is either acknowledged or given up", st)
	}
}

// Leave posts what is queued first, returns once the leave is answered, and stops recording.
func TestLeaveAfterQueuedEvents(t *testing.T) {
	f := &fake{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Name: "agent-1", Logger: testLogger(t, "client: ")})
	for i := 1; i <= 1000; i++ {
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i), Name: "e"}
	}
	// The tee may still hold some in EventCh's buffer: wait until all are queued.
	waitFor(t, "queued", 5*time.Second, func() bool { return c.Stats().Enqueued == 1000 })
	if err := c.Leave(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.got()); n != 1000 || f.leaves != 1 {
		t.Fatalf("after Leave: %d events, %d leaves", n, f.leaves)
	}
	c.EventCh() <- serf.UserEvent{LTime: 5000, Name: "late"}
	c.Close(ctxFor(time.Second))
	if st := c.Stats(); st.IgnoredAfterLeave != 1 || len(f.got()) != 1000 {
		t.Fatalf("stats %+v, %d events", st, len(f.got()))
	}
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"", ".a", "a/b", strings.Repeat("a", 129), "a b"} {
		if _, err := New(Config{URL: "http://127.0.0.1:1", Name: n}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}

var _ = context.Background
