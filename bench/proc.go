package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/billsync/billsync/sandbox"
)

// benchApp is billsync under measurement: a child process, or an App in
// this process (--in-process).
type benchApp interface {
	URL() string
	// Memory is the peak (VmHWM) and current (VmRSS) resident set in
	// bytes; zeros where /proc is not available.
	Memory() (peak, current int64)
	// CPU is the process's CPU time so far (user + system); false when it
	// cannot be told apart from the bench's own (in-process) or /proc is
	// not there.
	CPU() (time.Duration, bool)
	Stop() error
}

// startApp starts billsync on the sandbox's app address with its store
// under data, wired to the sandbox's emulators, and waits until it
// answers /readyz.
func (env *benchEnv) startApp(ctx context.Context, data string) (benchApp, error) {
	cfg := env.sb.AppConfig(env.sb.AppAddr)
	cfg.Data = data
	if env.opts.Workers > 0 {
		cfg.Workers = env.opts.Workers
	}
	cfg.BulkIngestThreshold = env.bulkIngest
	cfg.BillingOptions = maps.Clone(cfg.BillingOptions)
	if env.m3ter != nil {
		// billsync reaches m3ter through the side's counting proxy.
		cfg.BillingURL = env.m3ter.proxyURL()
		if env.opts.M3terRate > 0 {
			cfg.BillingOptions["rateLimit"] = strconv.FormatFloat(env.opts.M3terRate, 'f', -1, 64)
		}
	}
	if env.opts.StripeRate > 0 {
		if cfg.BillingOptions == nil {
			cfg.BillingOptions = map[string]string{}
		}
		cfg.BillingOptions["rateLimit"] = strconv.FormatFloat(env.opts.StripeRate, 'f', -1, 64)
	}
	if env.opts.InProcess {
		app, err := env.bs.Start(ctx, cfg, env.log.With("party", "billsync"))
		if err != nil {
			return nil, err
		}
		a := &inProcessApp{app: app, url: "http://" + cfg.Addr}
		if err := waitReady(ctx, a.url, time.Minute); err != nil {
			a.Stop()
			return nil, err
		}
		return a, nil
	}
	conf := ""
	if len(cfg.BillingOptions) > 0 {
		// Platform options (m3ter's organization, a pacing) only the
		// config file carries.
		conf = filepath.Join(env.dir, "billsync-"+cfg.BillingPlatform+".yaml")
		var y strings.Builder
		y.WriteString("billing:\n  options:\n")
		for _, k := range slices.Sorted(maps.Keys(cfg.BillingOptions)) {
			fmt.Fprintf(&y, "    %s: %q\n", k, cfg.BillingOptions[k])
		}
		if err := os.WriteFile(conf, []byte(y.String()), 0o600); err != nil {
			return nil, fmt.Errorf("writing billsync's config: %w", err)
		}
	}
	return startBenchChild(ctx, env.bs.Command, cfg, conf)
}

type inProcessApp struct {
	app sandbox.App
	url string
}

func (a *inProcessApp) URL() string { return a.url }
func (a *inProcessApp) Memory() (int64, int64) {
	return procMemory("/proc/self/status")
}
func (a *inProcessApp) CPU() (time.Duration, bool) { return 0, false }
func (a *inProcessApp) Stop() error                { return a.app.Close() }

// benchChild is `billsync serve` in its own process, so that its RSS is
// billsync's alone and not the emulators'.
type benchChild struct {
	cmd  *exec.Cmd
	url  string
	tail *tailWriter
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// startBenchChild starts the child with cfg in its environment and, when
// conf is not "", that config file.
func startBenchChild(ctx context.Context, command func(args ...string) (*exec.Cmd, error), cfg sandbox.AppConfig, conf string) (*benchChild, error) {
	cmd, err := command("serve", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// The config file, when given, is read under the environment's
	// settings (which win).
	cmd.Env = append(append(cmd.Env, cfg.Env()...), "BILLSYNC_CONFIG="+conf)
	if cfg.Workers > 0 {
		cmd.Env = append(cmd.Env, "BILLSYNC_WORKERS="+strconv.Itoa(cfg.Workers))
	}
	if cfg.BulkIngestThreshold != 0 {
		cmd.Env = append(cmd.Env, "BILLSYNC_SALESFORCE_BULK_INGEST_THRESHOLD="+strconv.Itoa(cfg.BulkIngestThreshold))
	}
	// Only the tail matters, for the error message of a child that died.
	c := &benchChild{cmd: cmd, url: "http://" + cfg.Addr, tail: &tailWriter{buf: &bytes.Buffer{}, max: 16 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting billsync: %w", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	readyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-readyCtx.Done():
		}
	}()
	if err := waitReady(readyCtx, c.url, time.Minute); err != nil {
		c.Stop()
		return nil, fmt.Errorf("billsync (pid %d) did not become ready: %w; its stderr ends: %s", cmd.Process.Pid, err, c.stderrTail())
	}
	return c, nil
}

func (c *benchChild) URL() string { return c.url }

func (c *benchChild) Memory() (int64, int64) {
	return procMemory(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "status"))
}

func (c *benchChild) CPU() (time.Duration, bool) {
	return procCPU(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "stat"))
}

// Stop asks billsync to shut down as an operator would (SIGTERM) and kills
// it if it takes longer than its own shutdown timeout allows.
func (c *benchChild) Stop() error {
	select {
	case <-c.done:
		return c.exitErr()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.exitErr()
	case <-time.After(20 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("billsync (pid %d) ignored SIGTERM for 20 s and was killed", c.cmd.Process.Pid)
}

func (c *benchChild) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("billsync (pid %d) exited: %w; its stderr ends: %s", c.cmd.Process.Pid, c.err, c.stderrTail())
	}
	return nil
}

func (c *benchChild) stderrTail() string {
	c.tail.mu.Lock()
	s := strings.TrimSpace(c.tail.buf.String())
	c.tail.mu.Unlock()
	if s == "" {
		return "(nothing)"
	}
	return s
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

// waitReady polls url/readyz until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return err
		}
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
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procMemory reads VmHWM and VmRSS from a /proc/<pid>/status file.
func procMemory(path string) (peak, current int64) {
	peak, _ = procField(path, "VmHWM")
	current, _ = procField(path, "VmRSS")
	return peak, current
}

// procField reads a "Key:   1234 kB" line of a /proc file, in bytes.
func procField(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		if len(fields) > 1 && strings.EqualFold(fields[1], "kB") {
			n *= 1024
		}
		return n, true
	}
	return 0, false
}

// userHZ is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on every
// Linux architecture Go supports.
const userHZ = 100

// procCPU reads utime + stime from a /proc/<pid>/stat file.
func procCPU(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	// The command name in parentheses may hold spaces: count fields from
	// after its closing parenthesis, where state is field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / userHZ, true
}
