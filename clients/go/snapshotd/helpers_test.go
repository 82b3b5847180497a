package snapshotd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a real snapshotd started for a test.
type server struct {
	URL  string
	Dir  string
	cmd  *exec.Cmd
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// snapshotdPath is SNAPSHOTD, or .build/debug/snapshotd from the repository's root.
func snapshotdPath(t testing.TB) string {
	p := os.Getenv("SNAPSHOTD")
	if p == "" {
		p = ".build/debug/snapshotd"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join("..", "..", "..", p) // clients/go/snapshotd -> the root
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("no snapshotd binary (set SNAPSHOTD): %v", err)
	}
	return abs
}

var listening = regexp.MustCompile(`listening on (http://[^\s]+)`)

// startSnapshotd runs `snapshotd serve --listen 127.0.0.1:0 --data-dir DIR` with extra flags and
// waits for its "listening on" line. It is stopped (SIGTERM, then killed) when the test ends.
func startSnapshotd(t testing.TB, dir string, extra ...string) *server {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(tempDir(t), "data")
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir}, extra...)
	cmd := exec.Command(snapshotdPath(t), args...)
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	cmd.Stdout = io.MultiWriter(pw, logs)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	s := &server{Dir: dir, cmd: cmd, logs: logs}
	t.Cleanup(func() { s.stop(t); pw.Close() })
	select {
	case u := <-found:
		s.URL = strings.TrimRight(u, "/")
	case <-time.After(20 * time.Second):
		t.Fatalf("snapshotd did not say where it listens; its output:\n%s", logs.String())
	}
	return s
}

func (s *server) stop(t testing.TB) {
	if s.cmd.ProcessState != nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

func tempDir(t testing.TB) string {
	d, err := ioutil.TempDir("", "snapshotd-goclient-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testLogger logs into the test's output (shown with -v or on failure).
func testLogger(t testing.TB, prefix string) *log.Logger {
	return log.New(testWriter{t}, prefix, log.Lmicroseconds)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	defer func() {
		if d := time.Since(start); d > limit/2 {
			t.Logf("waiting for %s took %v", what, d)
		}
	}()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // the timer ends it
	return ctx
}

// goSnapshot is what Go's replay reads from a snapshot file (snapshot.go's replay, rejoin after
// leave off).
type goSnapshot struct {
	alive                         map[string]string
	clock, eventClock, queryClock uint64
}

func readGoSnapshot(t testing.TB, path string) goSnapshot {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := goSnapshot{alive: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		var n uint64
		switch {
		case strings.HasPrefix(line, "alive: "):
			info := strings.TrimPrefix(line, "alive: ")
			i := strings.LastIndex(info, " ")
			g.alive[info[:i]] = info[i+1:]
		case strings.HasPrefix(line, "not-alive: "):
			delete(g.alive, strings.TrimPrefix(line, "not-alive: "))
		case sscan(line, "clock: %d", &n):
			g.clock = n
		case sscan(line, "event-clock: %d", &n):
			g.eventClock = n
		case sscan(line, "query-clock: %d", &n):
			g.queryClock = n
		case line == "leave":
			g = goSnapshot{alive: map[string]string{}}
		}
	}
	return g
}

func sscan(line, format string, n *uint64) bool {
	prefix := format[:strings.Index(format, "%")]
	if !strings.HasPrefix(line, prefix) {
		return false
	}
	_, err := fmt.Sscanf(line, format, n)
	return err == nil
}
