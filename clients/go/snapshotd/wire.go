package snapshotd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// The wire form of events: openapi.yaml's Event schemas, one JSON object a line (NDJSON).
// snapshotd keeps only what a snapshot file holds, so user events go without their payload.

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func encodeMemberEvent(e serf.MemberEvent) []byte {
	if len(e.Members) == 0 {
		return nil
	}
	b := make([]byte, 0, 48+64*len(e.Members))
	b = append(b, `{"type":`...)
	b = appendJSONString(b, e.Type.String())
	b = append(b, `,"members":[`...)
	for i, m := range e.Members {
		if len(m.Addr) == 0 {
			return nil
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, m.Name)
		b = append(b, `,"addr":`...)
		b = appendJSONString(b, m.Addr.String())
		b = append(b, `,"port":`...)
		b = strconv.AppendUint(b, uint64(m.Port), 10)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

func encodeUserEvent(e serf.UserEvent) []byte {
	b := make([]byte, 0, 48+len(e.Name))
	b = append(b, `{"type":"user","ltime":`...)
	b = strconv.AppendUint(b, uint64(e.LTime), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, e.Name)
	if e.Coalesce {
		b = append(b, `,"coalesce":true`...)
	}
	return append(b, "}\n"...)
}

func encodeQuery(q *serf.Query) []byte {
	b := make([]byte, 0, 48+len(q.Name))
	b = append(b, `{"type":"query","ltime":`...)
	b = strconv.AppendUint(b, uint64(q.LTime), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, q.Name)
	return append(b, "}\n"...)
}

func encodeClock(ltime uint64) []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"type":"clock","ltime":`...)
	b = strconv.AppendUint(b, ltime, 10)
	return append(b, "}\n"...)
}

type result struct {
	status     int
	body       []byte
	message    string        // the error message of a JSON error body
	retryAfter time.Duration // a Retry-After header in seconds
	err        error         // the request did not get an answer
}

func (c *Client) postEvents(lines [][]byte) result {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	body := make([]byte, 0, n)
	for _, l := range lines {
		body = append(body, l...)
	}
	res := c.do(c.sendCtx, http.MethodPost, c.base+"/events", "application/x-ndjson", body)
	if res.err == nil && (res.status == http.StatusOK || res.status == http.StatusAccepted) {
		var ack struct {
			Accepted int  `json:"accepted"`
			Durable  bool `json:"durable"`
		}
		if err := json.Unmarshal(res.body, &ack); err != nil || ack.Accepted != len(lines) {
			// An answer that does not acknowledge these events is not an acknowledgement.
			res.err = fmt.Errorf("unexpected answer %d %q for %d events", res.status, res.body, len(lines))
		}
	}
	return res
}

// do sends one request and reads the whole answer (so the connection is kept).
func (c *Client) do(ctx context.Context, method, url, contentType string, body []byte) result {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return result{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	data, err := ioutil.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return result{err: err}
	}
	res := result{status: resp.StatusCode, body: data}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			res.message = e.Error
		} else {
			res.message = strings.TrimSpace(string(data))
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			res.retryAfter = time.Duration(s) * time.Second
		}
	}
	return res
}

// Snapshot is the state snapshotd holds for a snapshot (GET /v1/snapshots/{name}).
type Snapshot struct {
	AliveNodes []AliveNode `json:"alive_nodes"`
	Clock      uint64      `json:"clock"`
	EventClock uint64      `json:"event_clock"`
	QueryClock uint64      `json:"query_clock"`
	Leaving    bool        `json:"leaving"`
}

// AliveNode is an alive member as Go serf records it: addr is host:port.
type AliveNode struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// ErrNoSnapshot is returned when snapshotd has no snapshot of the client's name.
var ErrNoSnapshot = errors.New("snapshotd: no such snapshot")

// GetSnapshot reads the snapshot's current state.
func (c *Client) GetSnapshot(ctx context.Context) (*Snapshot, error) {
	res := c.retrying(ctx, http.MethodGet, c.base, "", nil)
	return decodeSnapshot(res)
}

func decodeSnapshot(res result) (*Snapshot, error) {
	if res.err != nil {
		return nil, res.err
	}
	if res.status == http.StatusNotFound {
		return nil, ErrNoSnapshot
	}
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("snapshotd: %d %s", res.status, res.message)
	}
	var s Snapshot
	if err := json.Unmarshal(res.body, &s); err != nil {
		return nil, fmt.Errorf("snapshotd: bad snapshot answer: %v", err)
	}
	return &s, nil
}

// retrying sends a request until it gets an answer that is not worth retrying, or ctx ends.
func (c *Client) retrying(ctx context.Context, method, url, contentType string, body []byte) result {
	backoff := c.cfg.RetryMin
	for {
		res := c.do(ctx, method, url, contentType, body)
		if res.err == nil && (res.status < 500 && res.status != http.StatusRequestTimeout && res.status != http.StatusTooManyRequests) {
			return res
		}
		if ctx.Err() != nil {
			if res.err == nil {
				res.err = fmt.Errorf("%d %s (and %v)", res.status, res.message, ctx.Err())
			}
			return res
		}
		wait := backoff
		if res.retryAfter > wait {
			wait = res.retryAfter
		}
		if wait > c.cfg.RetryMax {
			wait = c.cfg.RetryMax
		}
		c.logRetry(0, res, wait)
		t := time.NewTimer(jitter(wait))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
		if backoff > c.cfg.RetryMax {
			backoff = c.cfg.RetryMax
		}
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(rand.Int63n(int64(d/2)+1))
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// checkName applies snapshotd's rule for snapshot names, so a bad one fails at New.
func checkName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("snapshotd: a snapshot name is 1 to 128 bytes, not %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
		if i > 0 {
			ok = ok || ch == '.' || ch == '_' || ch == '-'
		}
		if !ok {
			return fmt.Errorf("snapshotd: a snapshot name holds letters, digits, '.', '_' and '-' and starts with a letter or digit: %q at byte %d of %q", ch, i, name)
		}
	}
	return nil
}
