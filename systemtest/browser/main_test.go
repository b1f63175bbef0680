package browser

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/billsync/billsync/sandbox"
)

// billsyncBinary is cmd/billsync, built once by TestMain. The console is
// wired in package main, which a test elsewhere cannot import, so the
// tests run the real binary against emulators in this process (as the
// chaos test does).
var billsyncBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if _, err := findChromium(); err != nil {
		// Nothing to drive: every test skips (or fails under
		// BILLSYNC_CI=1) without paying for the build.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "billsync-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	billsyncBinary = filepath.Join(dir, "billsync")
	// go test puts its own go first in PATH, so this is the same toolchain.
	build := exec.Command("go", "build", "-o", billsyncBinary, "github.com/billsync/billsync/cmd/billsync")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "browser: building billsync: %v\n", err)
		return 1
	}
	return m.Run()
}

func testLogger() *slog.Logger {
	if os.Getenv("BILLSYNC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// child is `billsync serve` in its own process, configured for the
// sandbox's emulators: the sandbox.App the sandbox starts and stops.
type child struct {
	cmd  *exec.Cmd
	errs chan error
	done chan struct{}
	tail *tailBuffer
	err  error // the process's exit, once done is closed
}

// startChild is the sandbox's StartFunc: it returns once billsync
// answers /readyz (its event subscription is up).
func startChild(ctx context.Context, ac sandbox.AppConfig, _ *slog.Logger) (sandbox.App, error) {
	cmd := exec.Command(billsyncBinary, "serve", "--log-level", "warn")
	cmd.Env = append(append(os.Environ(), ac.Env()...),
		"BILLSYNC_BATCH_WAIT=50ms",
		"BILLSYNC_READ_TOKENS="+readName+"="+readToken,
	)
	c := &child{cmd: cmd, errs: make(chan error, 1), done: make(chan struct{}), tail: &tailBuffer{max: 16 << 10}}
	cmd.Stdout, cmd.Stderr = c.tail, c.tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting billsync: %w", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
		c.errs <- fmt.Errorf("billsync exited: %v; its output ends: %s", c.err, c.tail)
	}()
	if err := c.waitReady(ctx, "http://"+ac.Addr); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Read-only console users see no write controls; the tests log in with
// this token too.
const (
	readName  = "browser-reader"
	readToken = "browser-read-token"
)

func (c *child) waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := "no answer yet"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-c.done:
			return fmt.Errorf("billsync exited before it was ready: %v; its output ends: %s", c.err, c.tail)
		case <-ctx.Done():
			return fmt.Errorf("billsync not ready: %w (last: %s); its output ends: %s", ctx.Err(), last, c.tail)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *child) Err() <-chan error { return c.errs }

// Close asks billsync to stop as a supervisor would (SIGTERM) and kills
// it if it takes too long.
func (c *child) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("billsync (pid %d) ignored SIGTERM for 30 s and was killed", c.cmd.Process.Pid)
}

// tailBuffer keeps the last max bytes written: only the end of a dead
// child's output helps.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
