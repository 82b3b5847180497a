package snapshotd

import (
	"os"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// BenchmarkUserEvents: b.N user events through the client (EventCh, as Serf hands them) to a
// real snapshotd on loopback, until all are acknowledged (Flush). Reports events/s. The figure
// in the report: clients/go/test.sh -run '^$' -bench . -benchtime 100000x (fsync, the default)
// and SNAPSHOTD_BENCH_DURABILITY=buffered for Go serf's own durability.
func BenchmarkUserEvents(b *testing.B) {
	durability := "fsync"
	if d := os.Getenv("SNAPSHOTD_BENCH_DURABILITY"); d != "" {
		durability = d
	}
	sd := startSnapshotd(b, "", "--durability", durability)
	c, err := New(Config{URL: sd.URL, Name: "bench", Logger: testLogger(b, "client: ")})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c.EventCh() <- serf.UserEvent{LTime: serf.LamportTime(i + 1), Name: "deploy"}
	}
	if err := c.Flush(ctxFor(10 * time.Minute)); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := c.Stats()
	if st.Acknowledged != uint64(b.N) || st.GivenUp != 0 {
		b.Fatalf("stats %+v", st)
	}
	if durability == "fsync" && st.NotDurable != 0 {
		b.Fatalf("fsync mode answered 202: %+v", st)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(st.Requests), "events/request")
	// Buffered mode shows the state as of its last write (at most 500 ms old): not checked.
	if got, err := c.GetSnapshot(ctxFor(10 * time.Second)); durability == "fsync" && (err != nil || got.EventClock != uint64(b.N)) {
		b.Fatalf("event clock %+v %v, want %d", got, err, b.N)
	}
	c.Close(ctxFor(10 * time.Second))
}
