package snapshotd

import (
	"context"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net/http"
	"os"
	"path/filepath"
)

// Restored says what Restore found.
type Restored struct {
	// Found is false when snapshotd has no snapshot of this name (a new agent): the file at the
	// path was left as it was.
	Found bool
	// State is the state written to the path (after the rejoin), when Found.
	State *Snapshot
	// Bytes is the size of the file written.
	Bytes int
}

// Restore prepares an agent's start: call it before serf.Create, with serf.Config.SnapshotPath.
//
//  1. With Config.Create set: PUT /v1/snapshots/{name} (created with those options, or checked).
//  2. POST /v1/snapshots/{name}/rejoin: a new process is a new life of the agent, as in Go serf.
//     After a recorded leave this clears the alive set and the clocks (unless the snapshot has
//     rejoin_after_leave), as Go's replay of a trailing "leave" does, and events are recorded
//     again; without a leave it changes nothing.
//  3. GET /v1/snapshots/{name}/export?format=v1, written to path atomically (a temporary file
//     beside it, fsynced, renamed over it, the directory fsynced).
//
// serf.Create then replays that file as its own snapshot: it restores the member, event and
// query clocks (so old user events and queries are not delivered again) and rejoins the
// previously alive nodes by itself, with no Join. Go serf offers no other way for an outside
// component to set its clocks. When snapshotd has no such snapshot, Restore writes nothing
// (Found is false): a file already at path is Go's own and is replayed as usual.
//
// Answers worth retrying (503, connection errors) are retried until ctx ends.
func (c *Client) Restore(ctx context.Context, path string) (*Restored, error) {
	if c.cfg.Create != nil {
		body, err := json.Marshal(c.cfg.Create)
		if err != nil {
			return nil, err
		}
		res := c.retrying(ctx, http.MethodPut, c.base, "application/json", body)
		if res.err != nil {
			return nil, fmt.Errorf("snapshotd: creating the snapshot %q: %v", c.cfg.Name, res.err)
		}
		if res.status != http.StatusOK && res.status != http.StatusCreated {
			return nil, fmt.Errorf("snapshotd: creating the snapshot %q: %d %s", c.cfg.Name, res.status, res.message)
		}
	}
	state, err := decodeSnapshot(c.retrying(ctx, http.MethodPost, c.base+"/rejoin", "", nil))
	if err == ErrNoSnapshot {
		return &Restored{Found: false}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshotd: rejoin of %q: %v", c.cfg.Name, err)
	}
	res := c.retrying(ctx, http.MethodGet, c.base+"/export?format=v1", "", nil)
	if res.err != nil {
		return nil, fmt.Errorf("snapshotd: export of %q: %v", c.cfg.Name, res.err)
	}
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("snapshotd: export of %q: %d %s", c.cfg.Name, res.status, res.message)
	}
	if err := writeFileAtomic(path, res.body); err != nil {
		return nil, fmt.Errorf("snapshotd: writing %s: %v", path, err)
	}
	// The clock the agent restarts with is where sampling resumes: nothing older is sent.
	c.clockMu.Lock()
	if state.Clock > c.lastClock {
		c.lastClock = state.Clock
	}
	c.clockMu.Unlock()
	return &Restored{Found: true, State: state, Bytes: len(res.body)}, nil
}

// writeFileAtomic replaces path by data so that a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := ioutil.TempFile(dir, filepath.Base(path)+".snapshotd-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
