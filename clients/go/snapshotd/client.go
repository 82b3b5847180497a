// Package snapshotd keeps a Serf agent's snapshot in snapshotd, as serf.NewSnapshotter keeps it
// in a file. It is built against github.com/hashicorp/serf/serf (0.9.4) in GOPATH mode and uses
// nothing else outside the standard library.
//
// An agent's life with it (docs/AGENTS.md):
//
//	c, err := snapshotd.New(snapshotd.Config{URL: "http://127.0.0.1:8080", Name: conf.NodeName, Out: appCh})
//	restored, err := c.Restore(ctx, conf.SnapshotPath) // rejoin + the v1 export, before serf.Create
//	conf.EventCh = c.EventCh()                         // tee: every event reaches Out too
//	s, err := serf.Create(conf)                        // replays the export: clocks, rejoin
//	c.Attach(s)                                        // member clock from s.Stats()
//	...
//	c.Leave(ctx); s.Leave()                            // the leave is durable first, as in Go
//	s.Shutdown(); c.Close(ctx)                         // Close drains what is queued
//
// Events are posted in order, in NDJSON batches, one request at a time, through a bounded queue:
// when it is full the tee blocks, which blocks Serf's event delivery as a full EventCh does
// (backpressure), unless Config.EnqueueTimeout says how long to wait before giving an event up.
// A 503 (its Retry-After honoured), a 408, a 429, another 5xx or a connection error is retried
// with exponential backoff, for as long as the client runs; a batch refused with 400 or 413 is
// split to find the events at fault. Nothing is dropped silently: what the client gives up on
// (an event snapshotd refuses, an event still queued when Close's context ends, an event that
// waited longer than EnqueueTimeout) is counted in Stats().GivenUp and logged with the reason.
package snapshotd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Config says where the snapshot lives and how the client behaves. URL and Name are required.
type Config struct {
	// URL is snapshotd's base URL, e.g. http://127.0.0.1:8080 (no trailing path).
	URL string
	// Name is the snapshot's name: one per agent, usually serf.Config.NodeName
	// (letters, digits, '.', '_' and '-', starting with a letter or a digit; at most 128 bytes).
	Name string
	// Token is the bearer token, when snapshotd runs with --token-file.
	Token string
	// HTTPClient is used for every request; nil means a client with keep-alive to one host.
	HTTPClient *http.Client
	// Out is the application's event channel: every event the client reads from EventCh() is
	// passed on to it, as serf.Config.EventCh would have received it. May be nil.
	Out chan<- serf.Event
	// QueueSize is how many events (and markers) the in-memory queue holds. Default 8192.
	QueueSize int
	// MaxBatch is the most events in one request. Default 2048.
	MaxBatch int
	// MaxBatchBytes is the most body bytes in one request (a single larger event is sent
	// alone). Default 1 MiB; snapshotd refuses bodies over its --max-body-bytes (4 MiB).
	MaxBatchBytes int
	// ClockInterval is how often the member clock is sampled from Serf.Stats(), besides after
	// every member event. Default 500 ms, Go's clockUpdateInterval.
	ClockInterval time.Duration
	// EnqueueTimeout is how long the tee waits for room in a full queue before it gives the
	// event up (counted and logged). Zero waits as long as it takes: backpressure onto Serf.
	EnqueueTimeout time.Duration
	// RequestTimeout bounds one request (an answer slower than that is retried). Default 30 s.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between retries. Defaults 50 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// Create, when set, is sent by Restore as PUT /v1/snapshots/{name} before anything else:
	// the snapshot is created with these options, or checked to have them (409 otherwise).
	Create *SnapshotOptions
	// Logger receives the client's messages; nil logs to stderr with the prefix "snapshotd: ".
	Logger *log.Logger
}

// SnapshotOptions are the options of PUT /v1/snapshots/{name}; a nil field takes the server's.
type SnapshotOptions struct {
	// Format is "v1" or "v2" (the snapshot file's format on the server).
	Format *string `json:"format,omitempty"`
	// RejoinAfterLeave mirrors serf.Config.RejoinAfterLeave: a leave keeps the alive set and
	// the clocks. Set it to the agent's setting.
	RejoinAfterLeave *bool `json:"rejoin_after_leave,omitempty"`
}

// Stats are the client's counters since New.
type Stats struct {
	Enqueued          uint64 // events put in the queue (clock samples included)
	Acknowledged      uint64 // events snapshotd accepted (200 or 202)
	NotDurable        uint64 // of those, accepted with 202 (buffered mode: queued, not yet durable)
	ClockSamples      uint64 // clock events enqueued from Serf.Stats()
	Requests          uint64 // event requests sent (retries included)
	Retries           uint64 // requests that failed and were tried again
	GivenUp           uint64 // events the client gave up on (each one logged)
	IgnoredAfterLeave uint64 // events after Leave, not recorded (as Go's snapshotter ignores them)
	Queued            int    // events and markers in the queue now
}

type itemKind uint8

const (
	kindEvent itemKind = iota
	kindFlush
	kindLeave
)

type item struct {
	kind  itemKind
	line  []byte     // kindEvent: one NDJSON line, '\n' included
	done  chan error // markers: the outcome
	final bool       // the flush marker of Close: the sender stops after it
}

// Client tees a serf event channel into a named snapshot in snapshotd.
type Client struct {
	cfg    Config
	http   *http.Client
	logger *log.Logger
	base   string // URL + /v1/snapshots/<name>

	in    chan serf.Event // EventCh()
	queue chan item

	serf atomic.Value // *serf.Serf, set by Attach

	leaving   atomic.Bool
	closed    atomic.Bool
	abandon   atomic.Bool // Close's context ended: give up what is left
	sendCtx   context.Context
	cancelReq context.CancelFunc

	kick        chan struct{} // a member event happened: sample the clock
	stopTee     chan struct{}
	teeDone     chan struct{}
	stopSampler chan struct{}
	samplerDone chan struct{}
	senderDone  chan struct{}

	clockMu   sync.Mutex
	lastClock uint64 // the last clock value enqueued

	closeOnce sync.Once
	closeErr  error

	enqueued, acknowledged, notDurable, clockSamples uint64
	requests, retries, givenUp, ignoredAfterLeave    uint64

	logMu      sync.Mutex
	lastRetLog time.Time
	retSuppr   int
}

// New makes a client and starts its goroutines. Put EventCh() in serf.Config.EventCh, create
// the Serf, then Attach it.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("snapshotd: Config.URL is required")
	}
	if err := checkName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2048
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 1 << 20
	}
	if cfg.ClockInterval <= 0 {
		cfg.ClockInterval = 500 * time.Millisecond
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = 5 * time.Second
		if cfg.RetryMax < cfg.RetryMin {
			cfg.RetryMax = cfg.RetryMin
		}
	}
	c := &Client{
		cfg:         cfg,
		http:        cfg.HTTPClient,
		logger:      cfg.Logger,
		base:        trimSlash(cfg.URL) + "/v1/snapshots/" + cfg.Name,
		in:          make(chan serf.Event, 2048), // Go's eventChSize
		queue:       make(chan item, cfg.QueueSize),
		kick:        make(chan struct{}, 1),
		stopTee:     make(chan struct{}),
		teeDone:     make(chan struct{}),
		stopSampler: make(chan struct{}),
		samplerDone: make(chan struct{}),
		senderDone:  make(chan struct{}),
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        4,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     50 * time.Second, // below snapshotd's 60 s idle timeout
		}}
	}
	if c.logger == nil {
		c.logger = log.New(os.Stderr, "snapshotd: ", log.LstdFlags)
	}
	c.sendCtx, c.cancelReq = context.WithCancel(context.Background())
	go c.tee()
	go c.sampler()
	go c.sender()
	return c, nil
}

// EventCh is the channel to set as serf.Config.EventCh.
func (c *Client) EventCh() chan<- serf.Event { return c.in }

// Attach gives the client the Serf whose member clock it samples (Stats()["member_time"]),
// after every member event and every ClockInterval. Call it right after serf.Create: events
// that arrive before (the local member's join, during Create) are queued meanwhile.
func (c *Client) Attach(s *serf.Serf) {
	c.serf.Store(s)
	c.kickClock()
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Enqueued:          atomic.LoadUint64(&c.enqueued),
		Acknowledged:      atomic.LoadUint64(&c.acknowledged),
		NotDurable:        atomic.LoadUint64(&c.notDurable),
		ClockSamples:      atomic.LoadUint64(&c.clockSamples),
		Requests:          atomic.LoadUint64(&c.requests),
		Retries:           atomic.LoadUint64(&c.retries),
		GivenUp:           atomic.LoadUint64(&c.givenUp),
		IgnoredAfterLeave: atomic.LoadUint64(&c.ignoredAfterLeave),
		Queued:            len(c.queue),
	}
}

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("snapshotd: client closed")

// marker travels through EventCh behind what Serf already sent, so a Flush or a Leave is
// ordered after every event handed to the client before it.
type marker struct{ it item }

func (m *marker) EventType() serf.EventType { return serf.EventType(-1) }
func (m *marker) String() string            { return "snapshotd-marker" }

// Flush returns once every event handed to EventCh before it has been answered by snapshotd
// (accepted, or given up on: then the error says how many the client gave up on since the
// previous Flush). The sender counts them when it reaches the flush, so an event given up on
// before Flush was even called is still reported by it.
func (c *Client) Flush(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	done := make(chan error, 1)
	if err := c.putMarker(ctx, item{kind: kindFlush, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Leave records the agent's graceful leave, as Go's Snapshotter.Leave (which serf.Leave calls
// first): every event handed to EventCh before it is posted first, then
// POST /v1/snapshots/{name}/leave; it returns once snapshotd has the leave durably. Events
// after it are no longer recorded (counted in IgnoredAfterLeave), as Go's snapshotter stops
// recording after a leave. Call it just before serf.Leave(). If ctx ends first, the leave stays
// queued and is still posted (until Close), and ctx's error is returned.
func (c *Client) Leave(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	done := make(chan error, 1)
	if err := c.putMarker(ctx, item{kind: kindLeave, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the tee (after passing on what Serf already sent), samples the member clock a
// last time (as Go's snapshotter does at shutdown) and drains the queue: it returns once every
// queued event is answered, or when ctx ends, giving up on (counting and logging) what is
// left. Call it after serf.Shutdown (Serf must no longer send to EventCh). It returns an error
// when anything was given up on since New.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			select {
			case <-ctx.Done():
				// Give up on what is left: every step below then finishes quickly.
				c.abandon.Store(true)
				c.cancelReq()
			case <-finished:
			}
		}()
		close(c.stopTee)
		<-c.teeDone
		c.dropLate()
		close(c.stopSampler)
		<-c.samplerDone
		c.sampleClock() // the last sample, after Serf stopped
		done := make(chan error, 1)
		c.queue <- item{kind: kindFlush, done: done, final: true}
		<-done
		<-c.senderDone
		c.cancelReq()
		if n := atomic.LoadUint64(&c.givenUp); n > 0 {
			c.closeErr = fmt.Errorf("snapshotd: gave up on %d events in all (see the log)", n)
		}
	})
	return c.closeErr
}

// dropLate answers what reached EventCh after the tee stopped: a marker gets ErrClosed, an
// event (Serf still running after Close) is given up on, logged.
func (c *Client) dropLate() {
	for {
		select {
		case e := <-c.in:
			if m, ok := e.(*marker); ok {
				m.it.done <- ErrClosed
				continue
			}
			c.giveUpLines(1, fmt.Sprintf("%s arrived after Close (call Close after serf.Shutdown)", e))
		default:
			return
		}
	}
}

// putMarker hands a marker to the tee, behind the events already in EventCh.
func (c *Client) putMarker(ctx context.Context, it item) error {
	select {
	case c.in <- &marker{it}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopTee:
		return ErrClosed
	}
}

// tee reads EventCh: each event is queued for snapshotd, then passed on to Out.
func (c *Client) tee() {
	defer close(c.teeDone)
	for {
		select {
		case e := <-c.in:
			c.record(e)
			if _, ok := e.(*marker); !ok {
				c.forward(e, true)
			}
		case <-c.stopTee:
			// Drain what Serf already sent, as Go's teeStream does at shutdown.
			for {
				select {
				case e := <-c.in:
					c.record(e)
					if _, ok := e.(*marker); !ok {
						c.forward(e, false)
					}
				default:
					return
				}
			}
		}
	}
}

func (c *Client) forward(e serf.Event, block bool) {
	if c.cfg.Out == nil {
		return
	}
	if block {
		c.cfg.Out <- e
		return
	}
	select {
	case c.cfg.Out <- e:
	default:
		c.logger.Printf("[WARN] closing: Out is full, not passing on %s", e)
	}
}

func (c *Client) record(e serf.Event) {
	if m, ok := e.(*marker); ok {
		if m.it.kind == kindLeave {
			c.leaving.Store(true) // from here on, as Go's stream after a leave
		}
		c.queue <- m.it // markers always wait for room: the sender drains
		return
	}
	var line []byte
	member := false
	switch ev := e.(type) {
	case serf.MemberEvent:
		line = encodeMemberEvent(ev)
		member = true
	case serf.UserEvent:
		line = encodeUserEvent(ev)
	case *serf.Query:
		line = encodeQuery(ev)
	default:
		c.logger.Printf("[ERR] unknown event to snapshot: %#v", e)
		return
	}
	if line == nil {
		c.giveUpLines(1, fmt.Sprintf("%s: cannot be encoded (a member without an address)", e))
		return
	}
	c.enqueueEvent(line)
	if member {
		c.kickClock()
	}
}

// enqueueEvent queues one event line, blocking while the queue is full (or up to EnqueueTimeout).
func (c *Client) enqueueEvent(line []byte) {
	if c.leaving.Load() {
		atomic.AddUint64(&c.ignoredAfterLeave, 1)
		return
	}
	it := item{kind: kindEvent, line: line}
	select {
	case c.queue <- it:
	default:
		if c.cfg.EnqueueTimeout <= 0 {
			c.queue <- it
		} else {
			t := time.NewTimer(c.cfg.EnqueueTimeout)
			select {
			case c.queue <- it:
				t.Stop()
			case <-t.C:
				c.giveUpLines(1, fmt.Sprintf("the queue stayed full for %v: %s", c.cfg.EnqueueTimeout, bytes.TrimSpace(line)))
				return
			}
		}
	}
	atomic.AddUint64(&c.enqueued, 1)
}

func (c *Client) kickClock() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sampler samples the member clock after member events and every ClockInterval. It runs apart
// from the tee: Serf sends member events holding its member lock, which Stats() takes too.
func (c *Client) sampler() {
	defer close(c.samplerDone)
	t := time.NewTicker(c.cfg.ClockInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.sampleClock()
		case <-c.kick:
			c.sampleClock()
		case <-c.stopSampler:
			return
		}
	}
}

// sampleClock is Go's updateClock: the clock record is the member clock's time - 1 (the last
// time seen), sent when it is ahead of the last one sent. snapshotd's clock event records
// exactly its ltime (it witnesses ltime, then records time - 1).
func (c *Client) sampleClock() {
	s, _ := c.serf.Load().(*serf.Serf)
	if s == nil {
		return
	}
	t, err := strconv.ParseUint(s.Stats()["member_time"], 10, 64)
	if err != nil || t == 0 {
		return
	}
	lastSeen := t - 1
	c.clockMu.Lock()
	defer c.clockMu.Unlock()
	if lastSeen <= c.lastClock {
		return
	}
	if c.leaving.Load() {
		return // not counted: a clock sample is not an event Serf sent
	}
	c.lastClock = lastSeen
	atomic.AddUint64(&c.clockSamples, 1)
	c.enqueueEvent(encodeClock(lastSeen))
}

// sender posts the queue in order, one request at a time, batching what has gathered.
func (c *Client) sender() {
	defer close(c.senderDone)
	var pending *item
	// givenUp as of the last flush marker: a flush reports what was given up on since.
	var flushedGivenUp uint64
	batch := make([][]byte, 0, c.cfg.MaxBatch)
	for {
		var first item
		if pending != nil {
			first, pending = *pending, nil
		} else {
			first = <-c.queue
		}
		switch first.kind {
		case kindFlush:
			givenUp := atomic.LoadUint64(&c.givenUp)
			if n := givenUp - flushedGivenUp; n > 0 {
				first.done <- fmt.Errorf("snapshotd: gave up on %d events (see the log)", n)
			} else {
				first.done <- nil
			}
			flushedGivenUp = givenUp
			if first.final {
				return
			}
			continue
		case kindLeave:
			first.done <- c.postLeave()
			continue
		}
		batch = append(batch[:0], first.line)
		size := len(first.line)
	gather:
		for len(batch) < c.cfg.MaxBatch && size < c.cfg.MaxBatchBytes {
			select {
			case it := <-c.queue:
				if it.kind != kindEvent {
					pending = &it
					break gather
				}
				if size+len(it.line) > c.cfg.MaxBatchBytes {
					c.deliver(batch)
					batch = append(batch[:0], it.line)
					size = len(it.line)
					continue
				}
				batch = append(batch, it.line)
				size += len(it.line)
			default:
				break gather
			}
		}
		c.deliver(batch)
	}
}

// deliver posts lines until snapshotd accepts them, retrying what may succeed later, splitting a
// batch it refuses to find the events at fault, giving up (counted, logged) on what it refuses
// alone or on everything once Close's context has ended.
func (c *Client) deliver(lines [][]byte) {
	backoff := c.cfg.RetryMin
	for {
		if c.abandon.Load() {
			c.giveUpLines(len(lines), "Close's context ended before snapshotd acknowledged them")
			return
		}
		atomic.AddUint64(&c.requests, 1)
		res := c.postEvents(lines)
		switch {
		case res.err == nil && (res.status == http.StatusOK || res.status == http.StatusAccepted):
			atomic.AddUint64(&c.acknowledged, uint64(len(lines)))
			if res.status == http.StatusAccepted {
				atomic.AddUint64(&c.notDurable, uint64(len(lines)))
			}
			return
		case res.err == nil && (res.status == http.StatusBadRequest || res.status == http.StatusRequestEntityTooLarge) && len(lines) > 1:
			half := len(lines) / 2
			c.deliver(lines[:half])
			c.deliver(lines[half:])
			return
		case res.err == nil && permanent(res.status):
			what := "events"
			if len(lines) == 1 {
				what = string(bytes.TrimSpace(lines[0]))
			}
			c.giveUpLines(len(lines), fmt.Sprintf("snapshotd answered %d %s to %s", res.status, res.message, what))
			return
		}
		atomic.AddUint64(&c.retries, 1)
		wait := backoff
		if res.retryAfter > wait {
			wait = res.retryAfter
		}
		if wait > c.cfg.RetryMax {
			wait = c.cfg.RetryMax
		}
		c.logRetry(len(lines), res, wait)
		c.sleep(jitter(wait))
		backoff *= 2
		if backoff > c.cfg.RetryMax {
			backoff = c.cfg.RetryMax
		}
	}
}

// postLeave posts the leave until it is durable (or Close's context ended).
func (c *Client) postLeave() error {
	backoff := c.cfg.RetryMin
	for {
		if c.abandon.Load() {
			c.logger.Printf("[ERR] gave up on the leave: Close's context ended before it was durable")
			return errors.New("snapshotd: the leave was not recorded: the client was closed")
		}
		res := c.do(c.sendCtx, http.MethodPost, c.base+"/leave", "", nil)
		switch {
		case res.err == nil && res.status == http.StatusOK:
			return nil
		case res.err == nil && res.status == http.StatusNotFound:
			// Nothing was ever recorded for this agent: there is nothing a restart could rejoin.
			c.logger.Printf("[INFO] leave: snapshotd has no snapshot %q, nothing to mark", c.cfg.Name)
			return nil
		case res.err == nil && permanent(res.status):
			c.logger.Printf("[ERR] leave refused: %d %s", res.status, res.message)
			return fmt.Errorf("snapshotd: leave refused: %d %s", res.status, res.message)
		}
		wait := backoff
		if res.retryAfter > wait {
			wait = res.retryAfter
		}
		if wait > c.cfg.RetryMax {
			wait = c.cfg.RetryMax
		}
		c.logRetry(0, res, wait)
		c.sleep(jitter(wait))
		backoff *= 2
		if backoff > c.cfg.RetryMax {
			backoff = c.cfg.RetryMax
		}
	}
}

func (c *Client) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.sendCtx.Done():
	}
}

func (c *Client) giveUpLines(n int, why string) {
	atomic.AddUint64(&c.givenUp, uint64(n))
	c.logger.Printf("[ERR] gave up on %d event(s) for snapshot %q: %s", n, c.cfg.Name, why)
}

// logRetry logs a failed attempt, at most once a second (with how many it left out).
func (c *Client) logRetry(n int, res result, wait time.Duration) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if time.Since(c.lastRetLog) < time.Second {
		c.retSuppr++
		return
	}
	why := res.message
	if res.err != nil {
		why = res.err.Error()
	} else {
		why = fmt.Sprintf("%d %s", res.status, why)
	}
	what := "the leave"
	if n > 0 {
		what = fmt.Sprintf("%d event(s)", n)
	}
	more := ""
	if c.retSuppr > 0 {
		more = fmt.Sprintf(" (%d more failed attempts since the last message)", c.retSuppr)
	}
	c.logger.Printf("[WARN] posting %s failed (%s), retrying in %v%s", what, why, wait, more)
	c.lastRetLog = time.Now()
	c.retSuppr = 0
}

// permanent says whether an answer will not change by trying again: a 4xx other than 408
// (request timeout) and 429 (too many requests).
func permanent(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}
