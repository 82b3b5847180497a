// gosnap bench: the Go side of `make bench` (Benchmarks/run.sh). Not used by the tests.
//
//	gosnap bench throughput --workload user|member [--events N] [--dir DIR]
//	gosnap bench replay PATH [--runs N]
//
// throughput: feeds N pre-built events to a real serf.Snapshotter (minCompactSize huge, so
// it only appends) and prints one JSON line with events/s. user: UserEvents with rising
// LTime. member: MemberEvents over 5,000 names, every tenth a failure, the member clock
// witnessed at i+1 before each (as the Swift engine bench does with ltime i+1). The
// producer is paced so that teeStream's non-blocking send to streamCh never drops: it sends
// only while len(inCh) + len(streamCh) + 2 <= cap(streamCh) (the snapshotter's streamCh is
// read through reflect, for its length only), and sleeps when the channels are full. The clock stops after Wait() (final flush and
// fsync), and the written lines are counted to prove nothing was dropped.
//
// replay: times serf.NewSnapshotter (which replays the file) on a fresh copy of PATH, once
// per run, and prints one JSON line per run: seconds, records (lines) and alive nodes.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

func cmdBench(args []string) {
	if len(args) < 1 {
		usage()
	}
	switch args[0] {
	case "throughput":
		benchThroughput(args[1:])
	case "replay":
		benchReplay(args[1:])
	default:
		usage()
	}
}

type benchOptions struct {
	workload string
	events   int
	dir      string
	runs     int
	path     string
}

func parseBenchArgs(args []string) benchOptions {
	o := benchOptions{workload: "user", events: 1000000, runs: 1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() string {
			if i+1 >= len(args) {
				fatalf("bench: %s needs a value", a)
			}
			i++
			return args[i]
		}
		number := func() int {
			v := value()
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				fatalf("bench: bad %s %q", a, v)
			}
			return n
		}
		switch a {
		case "--workload":
			o.workload = value()
			if o.workload != "user" && o.workload != "member" {
				fatalf("bench: --workload must be user or member")
			}
		case "--events":
			o.events = number()
		case "--dir":
			o.dir = value()
		case "--runs":
			o.runs = number()
		default:
			if len(a) > 0 && a[0] == '-' {
				fatalf("bench: unknown option %q", a)
			}
			o.path = a
		}
	}
	return o
}

type quietWriter struct{}

func (quietWriter) Write(p []byte) (int, error) { return len(p), nil }

func benchThroughput(args []string) {
	o := parseBenchArgs(args)
	dir, err := ioutil.TempDir(o.dir, "gosnap-bench-")
	if err != nil {
		fatalf("bench: %v", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "snapshot")

	// Build every event first, as the Swift bench does.
	events := make([]serf.Event, o.events)
	ltimes := make([]serf.LamportTime, o.events)
	if o.workload == "user" {
		for i := range events {
			events[i] = serf.UserEvent{LTime: serf.LamportTime(i + 1), Name: "deploy"}
		}
	} else {
		members := make([]serf.Member, 5000)
		for n := range members {
			members[n] = serf.Member{Name: "node-" + strconv.Itoa(n),
				Addr: net.IPv4(10, 0, byte(n/256), byte(n%256)).To4(), Port: 7946}
		}
		seed := uint64(0x9E3779B97F4A7C15)
		for i := range events {
			seed ^= seed << 13
			seed ^= seed >> 7
			seed ^= seed << 17
			m := members[seed%5000]
			kind := serf.EventMemberJoin
			if i%10 == 9 {
				kind = serf.EventMemberFailed
			}
			events[i] = serf.MemberEvent{Type: kind, Members: []serf.Member{m}}
			ltimes[i] = serf.LamportTime(i + 1)
		}
	}
	runtime.GC()

	clock := &serf.LamportClock{}
	shutdownCh := make(chan struct{})
	logger := newLogger()
	logger.SetOutput(quietWriter{})
	inCh, snap, err := serf.NewSnapshotter(path, 1<<62, false, logger, clock, nil, shutdownCh)
	if err != nil {
		fatalf("bench: %v", err)
	}
	clock.Increment()
	clock.Witness(snap.LastClock())
	streamCh := reflect.ValueOf(snap).Elem().FieldByName("streamCh")
	if !streamCh.IsValid() || streamCh.Kind() != reflect.Chan {
		fatalf("bench: serf.Snapshotter has no streamCh field; unsupported serf version")
	}
	limit := streamCh.Cap() - 2 // one event may sit in teeStream, one is being sent

	member := o.workload == "member"
	start := time.Now()
	credit := 0
	for i, e := range events {
		for credit <= 0 {
			// len(inCh) first: an event moving from inCh to streamCh between the two reads
			// is then counted twice (safe), never missed.
			queued := len(inCh)
			queued += streamCh.Len()
			credit = limit - queued
			if credit <= 0 {
				// Sleeping (about 1 ms with Go 1.19's timers) leaves both CPUs to the
				// snapshotter's goroutines; spinning with runtime.Gosched halved its rate
				// on 2 CPUs. 2,046 queued events last longer than the sleep.
				time.Sleep(20 * time.Microsecond)
			}
		}
		if member {
			clock.Witness(ltimes[i])
		}
		inCh <- e
		credit--
	}
	// Everything sent: wait until both channels are empty twice in a row, 1 ms apart (the
	// event teeStream may hold between them is forwarded within that time), then shut down.
	for {
		if len(inCh) == 0 && streamCh.Len() == 0 {
			time.Sleep(time.Millisecond)
			if len(inCh) == 0 && streamCh.Len() == 0 {
				break
			}
		}
		runtime.Gosched()
	}
	close(shutdownCh)
	snap.Wait()
	seconds := time.Since(start).Seconds()

	data, err := ioutil.ReadFile(path)
	if err != nil {
		fatalf("bench: %v", err)
	}
	var recorded int
	if member {
		recorded = bytes.Count(data, []byte("alive: ")) // counts "alive: " and "not-alive: "
	} else {
		recorded = bytes.Count(data, []byte("event-clock: "))
	}
	if recorded != o.events {
		fatalf("bench: %d of %d events recorded: the producer outran the snapshotter", recorded, o.events)
	}
	out, _ := json.Marshal(map[string]interface{}{
		"impl": "go-serf-0.9.4", "workload": o.workload, "mode": "buffered", "events": o.events,
		"seconds": seconds, "events_per_second": int(float64(o.events) / seconds),
		"lines": bytes.Count(data, []byte("\n")),
	})
	fmt.Println(string(out))
}

func benchReplay(args []string) {
	o := parseBenchArgs(args)
	if o.path == "" {
		usage()
	}
	data, err := ioutil.ReadFile(o.path)
	if err != nil {
		fatalf("bench: %v", err)
	}
	records := bytes.Count(data, []byte("\n"))
	data = nil
	dir, err := ioutil.TempDir(filepath.Dir(o.path), "gosnap-replay-")
	if err != nil {
		fatalf("bench: %v", err)
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "snapshot")
	logger := newLogger()
	logger.SetOutput(quietWriter{})
	for run := 0; run < o.runs; run++ {
		copyFile(o.path, copyPath)
		runtime.GC()
		clock := &serf.LamportClock{}
		shutdownCh := make(chan struct{})
		start := time.Now()
		_, snap, err := serf.NewSnapshotter(copyPath, 1<<62, false, logger, clock, nil, shutdownCh)
		seconds := time.Since(start).Seconds()
		if err != nil {
			fatalf("bench: replay: %v", err)
		}
		alive := len(snap.AliveNodes())
		clock.Increment()
		clock.Witness(snap.LastClock())
		close(shutdownCh)
		snap.Wait()
		out, _ := json.Marshal(map[string]interface{}{
			"impl": "go-serf-0.9.4", "format": "v1", "records": records, "seconds": seconds,
			"records_per_second": int(float64(records) / seconds), "alive_nodes": alive,
		})
		fmt.Println(string(out))
	}
}

func copyFile(from, to string) {
	src, err := os.Open(from)
	if err != nil {
		fatalf("bench: %v", err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		fatalf("bench: %v", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		fatalf("bench: copy: %v", err)
	}
	if err := dst.Close(); err != nil {
		fatalf("bench: copy: %v", err)
	}
}
