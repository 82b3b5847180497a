package snapshotd

import (
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// recorder keeps the events an instance's application receives.
type recorder struct {
	mu     sync.Mutex
	events []serf.Event
	ch     chan serf.Event
}

func newRecorder() *recorder {
	r := &recorder{ch: make(chan serf.Event, 4096)}
	go func() {
		for e := range r.ch {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) userEvents(prefix string) []serf.UserEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []serf.UserEvent
	for _, e := range r.events {
		if u, ok := e.(serf.UserEvent); ok && strings.HasPrefix(u.Name, prefix) {
			out = append(out, u)
		}
	}
	return out
}

func (r *recorder) saw(t serf.EventType, member string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if m, ok := e.(serf.MemberEvent); ok && m.Type == t {
			for _, mem := range m.Members {
				if mem.Name == member {
					return true
				}
			}
		}
	}
	return false
}

func (r *recorder) sawQuery(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if q, ok := e.(*serf.Query); ok && q.Name == name {
			return true
		}
	}
	return false
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1 (memberlist binds both).
func freePort(t *testing.T) int {
	for i := 0; i < 50; i++ {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func serfLog() io.Writer {
	if os.Getenv("SNAPSHOTD_TEST_SERF_LOG") != "" {
		return os.Stderr
	}
	return ioutil.Discard
}

// startSerf creates one instance: memberlist on 127.0.0.1:port, fast failure detection.
func startSerf(t *testing.T, name string, port int, snapshotPath string, ch chan<- serf.Event) *serf.Serf {
	t.Helper()
	conf := serf.DefaultConfig()
	conf.NodeName = name
	conf.LogOutput = serfLog()
	conf.SnapshotPath = snapshotPath
	conf.EventCh = ch
	conf.LeavePropagateDelay = 300 * time.Millisecond
	ml := memberlist.DefaultLocalConfig()
	ml.Name = name
	ml.BindAddr, ml.BindPort = "127.0.0.1", port
	ml.AdvertiseAddr, ml.AdvertisePort = "127.0.0.1", port
	ml.ProbeInterval = 200 * time.Millisecond
	ml.ProbeTimeout = 100 * time.Millisecond
	ml.GossipInterval = 20 * time.Millisecond
	ml.SuspicionMult = 2
	// Gossip is best effort (a message goes to a few random nodes a few times); a lost one is
	// only made good by the next push/pull. Retransmit more and push/pull often, so that every
	// join and user event reaches every member within seconds.
	ml.RetransmitMult = 8
	ml.GossipNodes = 4
	ml.PushPullInterval = 2 * time.Second
	ml.LogOutput = conf.LogOutput
	conf.MemberlistConfig = ml
	s, err := serf.Create(conf)
	if err != nil {
		t.Fatalf("serf.Create(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

func alive(s *serf.Serf) []string {
	var out []string
	for _, m := range s.Members() {
		if m.Status == serf.StatusAlive {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

func memberClock(t *testing.T, s *serf.Serf) uint64 {
	v, err := strconv.ParseUint(s.Stats()["member_time"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v - 1
}

// TestLiveCluster: five serf instances in this process; "u", the instance under test, keeps Go's
// own snapshot file and snapshotd through the client. After joins, user events, a query, a
// graceful leave and a crash, snapshotd's state equals Go's file. Then u restarts on an empty
// disk from snapshotd's export alone: it rejoins with no Join and is not handed the old user
// events again, while a control instance with no snapshot joining the same way is. Last, u
// leaves (durably) and a restart from snapshotd no longer rejoins anything.
func TestLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("live cluster")
	}
	sd := startSnapshotd(t, "")
	dir := tempDir(t)
	const name = "u"
	ports := map[string]int{}
	for _, n := range []string{"u", "a", "b", "c", "d", "x"} {
		ports[n] = freePort(t)
	}
	addr := func(n string) string { return fmt.Sprintf("127.0.0.1:%d", ports[n]) }
	newClient := func(app chan<- serf.Event) *Client {
		c, err := New(Config{URL: sd.URL, Name: name, Out: app, Logger: testLogger(t, "client: "),
			Create: &SnapshotOptions{RejoinAfterLeave: new(bool)}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The cluster: a, b, c, d plain; u with Go's snapshot file and the client.
	recs := map[string]*recorder{}
	insts := map[string]*serf.Serf{}
	for _, n := range []string{"a", "b", "c", "d"} {
		recs[n] = newRecorder()
		insts[n] = startSerf(t, n, ports[n], "", recs[n].ch)
	}
	recs["u"] = newRecorder()
	client := newClient(recs["u"].ch)
	goFile := filepath.Join(dir, "u-go.snapshot")
	// A new agent: Create makes the snapshot, empty, and the export is a file with no members.
	if r, err := client.Restore(ctxFor(10*time.Second), goFile); err != nil || !r.Found || len(r.State.AliveNodes) != 0 {
		t.Fatalf("Restore of a new agent: %+v %v", r, err)
	}
	u := startSerf(t, "u", ports["u"], goFile, client.EventCh())
	client.Attach(u)
	for _, n := range []string{"b", "c", "d"} {
		if _, err := insts[n].Join([]string{addr("a")}, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := u.Join([]string{addr("b")}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 alive members seen by u and a", 20*time.Second, func() bool {
		return len(alive(u)) == 5 && len(alive(insts["a"])) == 5
	})

	// User events from several members, and a query.
	for i, from := range []string{"a", "b", "a"} {
		if err := insts[from].UserEvent(fmt.Sprintf("deploy-%d", i+1), []byte("v"), false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "u to get the 3 user events", 10*time.Second, func() bool { return len(recs["u"].userEvents("deploy-")) == 3 })
	if _, err := insts["b"].Query("uptime", nil, &serf.QueryParam{Timeout: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "u to get the query", 10*time.Second, func() bool { return recs["u"].sawQuery("uptime") })

	// A graceful leave (c), and a crash (d: shut down without leaving).
	if err := insts["c"].Leave(); err != nil {
		t.Fatal(err)
	}
	insts["c"].Shutdown()
	waitFor(t, "u to see c leave", 10*time.Second, func() bool { return recs["u"].saw(serf.EventMemberLeave, "c") })
	insts["d"].Shutdown()
	waitFor(t, "u to see d fail", 20*time.Second, func() bool { return recs["u"].saw(serf.EventMemberFailed, "d") })

	// Let the clock settle one sampling interval, note it, and stop u (no leave: a crash for
	// the cluster, a restart for u). Go's snapshotter flushes at Shutdown; Close drains.
	if err := client.Flush(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	clockBefore := memberClock(t, u)
	time.Sleep(600 * time.Millisecond)
	if err := u.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := client.Close(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	st := client.Stats()
	t.Logf("client: %+v", st)
	if st.GivenUp != 0 || st.Acknowledged != st.Enqueued {
		t.Fatalf("client stats: %+v", st)
	}

	// snapshotd's state equals Go's own snapshot file.
	goSnap := readGoSnapshot(t, goFile)
	got, err := client.GetSnapshot(ctxFor(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	gotAlive := map[string]string{}
	for _, n := range got.AliveNodes {
		gotAlive[n.Name] = n.Addr
	}
	wantAlive := map[string]string{"u": addr("u"), "a": addr("a"), "b": addr("b")}
	if fmt.Sprint(gotAlive) != fmt.Sprint(goSnap.alive) || fmt.Sprint(goSnap.alive) != fmt.Sprint(wantAlive) {
		t.Fatalf("alive: snapshotd %v, Go's file %v, want %v", gotAlive, goSnap.alive, wantAlive)
	}
	if got.EventClock != goSnap.eventClock || got.QueryClock != goSnap.queryClock || got.EventClock == 0 || got.QueryClock == 0 {
		t.Fatalf("event/query clocks: snapshotd %d/%d, Go's file %d/%d", got.EventClock, got.QueryClock, goSnap.eventClock, goSnap.queryClock)
	}
	// The member clock within the sampling interval: at least what it was an interval before the
	// end, at most Go's (recorded at shutdown).
	if got.Clock < clockBefore || got.Clock > goSnap.clock {
		t.Fatalf("clock: snapshotd %d, Go's file %d, sampled %d one interval before the end", got.Clock, goSnap.clock, clockBefore)
	}
	t.Logf("snapshotd = Go's file: alive %v, clock %d (Go %d), event clock %d, query clock %d",
		gotAlive, got.Clock, goSnap.clock, got.EventClock, got.QueryClock)

	// u restarts on an empty disk from snapshotd's export alone, with no Join.
	dir2 := tempDir(t)
	recs["u2"] = newRecorder()
	client2 := newClient(recs["u2"].ch)
	path2 := filepath.Join(dir2, "u.snapshot")
	restored, err := client2.Restore(ctxFor(10*time.Second), path2)
	if err != nil || !restored.Found || len(restored.State.AliveNodes) != 3 {
		t.Fatalf("Restore: %+v %v", restored, err)
	}
	exported, _ := ioutil.ReadFile(path2)
	t.Logf("the export u restarts from:\n%s", exported)
	u2 := startSerf(t, "u", ports["u"], path2, client2.EventCh())
	client2.Attach(u2)
	if c := memberClock(t, u2); c < got.Clock {
		t.Fatalf("restored member clock %d below the snapshot's %d", c, got.Clock)
	}
	waitFor(t, "u to rejoin a and b by itself", 20*time.Second, func() bool {
		return fmt.Sprint(alive(u2)) == "[a b u]" && fmt.Sprint(alive(insts["a"])) == "[a b u]"
	})

	// The control: no snapshot, joins the same way (Join without ignoring old events, as
	// serf's rejoin does). It is handed the old user events; u is not.
	recs["x"] = newRecorder()
	x := startSerf(t, "x", ports["x"], "", recs["x"].ch)
	if _, err := x.Join([]string{addr("a")}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the control to get the old user events", 10*time.Second, func() bool { return len(recs["x"].userEvents("deploy-")) == 3 })
	if err := insts["a"].UserEvent("after-restart", nil, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "u and the control to get a new user event", 10*time.Second, func() bool {
		return len(recs["u2"].userEvents("after-restart")) == 1 && len(recs["x"].userEvents("after-restart")) == 1
	})
	if old := recs["u2"].userEvents("deploy-"); len(old) != 0 {
		t.Fatalf("the restarted u was handed %d old user events again: %v", len(old), old)
	}
	t.Logf("old user events handed on join: control %d, restarted u 0", len(recs["x"].userEvents("deploy-")))

	// u leaves gracefully: the leave is durable when Leave returns, then serf leaves.
	if err := client2.Flush(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := client2.Leave(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	left, err := client2.GetSnapshot(ctxFor(10 * time.Second))
	if err != nil || !left.Leaving || len(left.AliveNodes) != 0 {
		t.Fatalf("after Leave: %+v %v", left, err)
	}
	if err := u2.Leave(); err != nil {
		t.Fatal(err)
	}
	u2.Shutdown()
	if err := client2.Close(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Go's replay of its own file after the leave: no members, no event or query clock. (Go's
	// snapshotter still appends member clock samples after a leave, which its replay then keeps;
	// snapshotd refuses events while leaving, so its export restarts that clock from 0.)
	g := readGoSnapshot(t, path2)
	if len(g.alive) != 0 || g.eventClock != 0 || g.queryClock != 0 {
		t.Fatalf("Go's replay of u's file after the leave: %+v", g)
	}
	t.Logf("after the leave: Go's file replays to member clock %d, snapshotd's export to 0", g.clock)

	// A restart after a leave is a new life: nothing to rejoin, clocks from zero (as Go's replay
	// of a trailing leave), and events are recorded again.
	recs["u3"] = newRecorder()
	client3 := newClient(recs["u3"].ch)
	path3 := filepath.Join(tempDir(t), "u.snapshot")
	r3, err := client3.Restore(ctxFor(10*time.Second), path3)
	if err != nil || !r3.Found || len(r3.State.AliveNodes) != 0 || r3.State.Leaving || r3.State.EventClock != 0 {
		t.Fatalf("Restore after a leave: %+v %v", r3, err)
	}
	u3 := startSerf(t, "u", ports["u"], path3, client3.EventCh())
	client3.Attach(u3)
	time.Sleep(1500 * time.Millisecond)
	if n := len(alive(u3)); n != 1 {
		t.Fatalf("after a leave the restart rejoined %d members", n-1)
	}
	u3.Shutdown()
	if err := client3.Close(ctxFor(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if s3, err := client3.GetSnapshot(ctxFor(10 * time.Second)); err != nil || len(s3.AliveNodes) != 1 || s3.AliveNodes[0].Name != "u" {
		t.Fatalf("the new life's state: %+v %v", s3, err)
	}
}
