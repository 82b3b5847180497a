// Command gosnap drives the REAL Go serf Snapshotter (github.com/hashicorp/serf/serf,
// snapshot.go) so that snapshotd's Swift implementation can be checked against it.
//
// Usage:
//
//	gosnap read PATH [--rejoin]
//	gosnap write PATH [--rejoin] [--min-compact-size N] [--raw-clock]
//
// read: copies PATH to a temporary file, opens a serf.Snapshotter on the copy (so PATH is
// never modified), and prints one JSON line:
//
//	{"alive_nodes":[{"name":"a","addr":"10.0.0.1:7946"}],"clock":N,"event_clock":N,"query_clock":N}
//
// alive_nodes is sorted by name (byte order). Replay warnings go to stderr as Go logs them.
//
// write: reads JSON commands from stdin (one per line) and feeds them to a Snapshotter on
// PATH; see the README.md next to this directory for the command shapes. After every
// command the driver waits until the snapshotter's stream goroutine has processed it, so
// no event is dropped and the output does not depend on scheduling (except the 500 ms
// clock ticker, see README.md).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

const defaultMinCompactSize = 128 * 1024 // serf's snapshotSizeLimit

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  gosnap read PATH [--rejoin]
  gosnap write PATH [--rejoin] [--min-compact-size N] [--raw-clock]
  gosnap bench throughput --workload user|member [--events N] [--dir DIR]
  gosnap bench replay PATH [--runs N]
`)
	os.Exit(2)
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gosnap: "+format+"\n", args...)
	os.Exit(1)
}

type options struct {
	path           string
	rejoin         bool
	minCompactSize int
	rawClock       bool
}

func parseArgs(args []string, allowWrite bool) options {
	o := options{minCompactSize: defaultMinCompactSize}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--rejoin":
			o.rejoin = true
		case a == "--min-compact-size" && allowWrite:
			if i+1 >= len(args) {
				usage()
			}
			n, err := strconv.Atoi(args[i+1])
			if err != nil || n < 0 {
				fatalf("bad --min-compact-size %q", args[i+1])
			}
			o.minCompactSize = n
			i++
		case a == "--raw-clock" && allowWrite:
			o.rawClock = true
		case len(a) > 0 && a[0] == '-':
			fatalf("unknown option %q", a)
		default:
			if o.path != "" {
				usage()
			}
			o.path = a
		}
	}
	if o.path == "" {
		usage()
	}
	return o
}

func newLogger() *log.Logger { return log.New(os.Stderr, "", 0) }

// ---------------------------------------------------------------- read

type jsonNode struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

type readResult struct {
	AliveNodes []jsonNode `json:"alive_nodes"`
	Clock      uint64     `json:"clock"`
	EventClock uint64     `json:"event_clock"`
	QueryClock uint64     `json:"query_clock"`
}

func cmdRead(o options) {
	src, err := os.Open(o.path)
	if err != nil {
		fatalf("read: %v", err)
	}
	dir, err := ioutil.TempDir("", "gosnap-read-")
	if err != nil {
		fatalf("read: %v", err)
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "snapshot")
	dst, err := os.Create(copyPath)
	if err != nil {
		fatalf("read: %v", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		fatalf("read: copy: %v", err)
	}
	src.Close()
	if err := dst.Close(); err != nil {
		fatalf("read: copy: %v", err)
	}

	// Clock exactly as serf.Create sets it up: Increment once, then (after replay)
	// Witness(LastClock). With this clock the ticker/shutdown updateClock computes
	// lastSeen == LastClock and appends nothing, so the reported values are exactly the
	// replayed ones. (A never-incremented clock would make it append and adopt
	// "clock: 18446744073709551615".) The file opened is a private copy anyway.
	clock := &serf.LamportClock{}
	shutdownCh := make(chan struct{})
	_, snap, err := serf.NewSnapshotter(copyPath, defaultMinCompactSize, o.rejoin,
		newLogger(), clock, nil, shutdownCh)
	if err != nil {
		fatalf("read: %v", err)
	}
	lastClock := snap.LastClock()
	clock.Increment()
	clock.Witness(lastClock)
	res := readResult{
		AliveNodes: []jsonNode{},
		Clock:      uint64(lastClock),
		EventClock: uint64(snap.LastEventClock()),
		QueryClock: uint64(snap.LastQueryClock()),
	}
	for _, n := range snap.AliveNodes() {
		res.AliveNodes = append(res.AliveNodes, jsonNode{Name: n.Name, Addr: n.Addr})
	}
	close(shutdownCh)
	snap.Wait()

	sort.Slice(res.AliveNodes, func(i, j int) bool {
		return res.AliveNodes[i].Name < res.AliveNodes[j].Name
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		fatalf("read: %v", err)
	}
}

// ---------------------------------------------------------------- write

type jsonMember struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

type command struct {
	Type    string       `json:"type"`
	Members []jsonMember `json:"members"`
	LTime   *uint64      `json:"ltime"`
	Name    string       `json:"name"`
}

var memberEventTypes = map[string]serf.EventType{
	"member-join":   serf.EventMemberJoin,
	"member-leave":  serf.EventMemberLeave,
	"member-failed": serf.EventMemberFailed,
	"member-update": serf.EventMemberUpdate,
	"member-reap":   serf.EventMemberReap,
}

type driver struct {
	inCh     chan<- serf.Event
	outCh    chan serf.Event
	snap     *serf.Snapshotter
	streamCh reflect.Value // the snapshotter's unexported streamCh, read for its length only
}

// barrier returns once the snapshotter's stream goroutine has finished processing every
// event sent before it. It sends a sentinel *Query with LTime 0 (always ignored by
// processQuery, since 0 <= lastQueryClock). teeStream forwards an event to streamCh
// before it forwards it to outCh, so receiving the sentinel on outCh means it is in
// streamCh; once streamCh is empty the stream goroutine has dequeued the sentinel, which
// it does only after fully processing all earlier events (it handles one at a time).
func (d *driver) barrier() {
	sentinel := &serf.Query{LTime: 0, Name: "gosnap-barrier"}
	d.inCh <- sentinel
	for e := range d.outCh {
		if q, ok := e.(*serf.Query); ok && q == sentinel {
			break
		}
	}
	for d.streamCh.Len() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
}

func cmdWrite(o options) {
	clock := &serf.LamportClock{}
	shutdownCh := make(chan struct{})
	// Large enough that teeStream's non-blocking send to outCh never drops: at most
	// two events (one command, one sentinel) are in flight at a time.
	outCh := make(chan serf.Event, 4096)
	inCh, snap, err := serf.NewSnapshotter(o.path, o.minCompactSize, o.rejoin,
		newLogger(), clock, outCh, shutdownCh)
	if err != nil {
		fatalf("write: %v", err)
	}
	if !o.rawClock {
		// As serf.Create does right after NewSnapshotter.
		clock.Increment()
		clock.Witness(snap.LastClock())
	}
	d := &driver{inCh: inCh, outCh: outCh, snap: snap,
		streamCh: reflect.ValueOf(snap).Elem().FieldByName("streamCh")}
	if !d.streamCh.IsValid() || d.streamCh.Kind() != reflect.Chan {
		fatalf("write: serf.Snapshotter has no streamCh field; unsupported serf version")
	}

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		var c command
		if err := json.Unmarshal(raw, &c); err != nil {
			fatalf("write: stdin line %d: %v", lineNo, err)
		}
		if et, ok := memberEventTypes[c.Type]; ok {
			if c.LTime != nil {
				clock.Witness(serf.LamportTime(*c.LTime))
			}
			ev := serf.MemberEvent{Type: et}
			for _, m := range c.Members {
				ip := net.ParseIP(m.Addr)
				if ip == nil && m.Addr != "" {
					fmt.Fprintf(os.Stderr, "gosnap: stdin line %d: %q is not an IP; Go gets a nil net.IP\n", lineNo, m.Addr)
				}
				ev.Members = append(ev.Members, serf.Member{Name: m.Name, Addr: ip, Port: m.Port})
			}
			inCh <- ev
			d.barrier()
			continue
		}
		switch c.Type {
		case "user", "query":
			if c.LTime == nil {
				fatalf("write: stdin line %d: %s needs ltime", lineNo, c.Type)
			}
			if c.Type == "user" {
				inCh <- serf.UserEvent{LTime: serf.LamportTime(*c.LTime), Name: c.Name}
			} else {
				inCh <- &serf.Query{LTime: serf.LamportTime(*c.LTime), Name: c.Name}
			}
			d.barrier()
		case "clock":
			if c.LTime == nil {
				fatalf("write: stdin line %d: clock needs ltime", lineNo)
			}
			// Only witnesses; Go writes the clock line at the next member event, the
			// next 500 ms tick, or shutdown, whichever comes first.
			clock.Witness(serf.LamportTime(*c.LTime))
		case "leave":
			snap.Leave()
			d.barrier()
		default:
			fatalf("write: stdin line %d: unknown command type %q", lineNo, c.Type)
		}
	}
	if err := sc.Err(); err != nil {
		fatalf("write: stdin: %v", err)
	}
	d.barrier()
	close(shutdownCh)
	snap.Wait()
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "read":
		cmdRead(parseArgs(os.Args[2:], false))
	case "write":
		cmdWrite(parseArgs(os.Args[2:], true))
	case "bench": // Benchmarks/run.sh only; see bench.go
		cmdBench(os.Args[2:])
	default:
		usage()
	}
}
