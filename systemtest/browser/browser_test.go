package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one browser step (a navigation, a click and what it
// waits for): generous, for a busy 2-core machine.
const stepTimeout = 30 * time.Second

// Viewports the pages must fit without scrolling sideways.
var (
	desktop = viewport{"desktop", 1280, 800}
	phone   = viewport{"phone", 390, 844}
)

type viewport struct {
	name          string
	width, height int64
}

// findChromium is the browser binary: $BILLSYNC_CHROMIUM, or the first of
// the usual names on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("BILLSYNC_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH (install it with apt-get install chromium, or set BILLSYNC_CHROMIUM)")
}

// requireChromium skips the test where there is no browser, and fails
// it under BILLSYNC_CI=1, where a missing tool must not pass silently.
func requireChromium(t *testing.T) string {
	t.Helper()
	p, err := findChromium()
	if err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("Chromium is required under BILLSYNC_CI=1: %v", err)
		}
		t.Skip(err)
	}
	return p
}

// browser is one headless Chromium and the tab the test drives.
type browser struct {
	t   *testing.T
	tab context.Context
	vp  viewport

	shotsOnce sync.Once
	shots     string // where failure screenshots go; made on the first failure
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
		// Root in a container has no user namespace for the sandbox.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first run starts the browser, with no timeout: one would end it.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	b := &browser{t: t, tab: tab}
	b.viewport(desktop)
	return b
}

// do runs steps in the tab within stepTimeout; on failure it saves a
// screenshot, logs where, and fails the test.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// load runs steps that lead to another page (a click on a link or a
// submit button, Enter in a form) and waits until that page has loaded:
// waiting for an element instead could find it on the page being left.
func (b *browser) load(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, steps...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text is the visible text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fatalf("reading the text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) viewport(v viewport) {
	b.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if v.width < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.do("viewport "+v.name, chromedp.EmulateViewport(v.width, v.height, opts...))
	b.vp = v
}

// reloadUntil loads url until the JavaScript condition cond holds: the
// pages are server-rendered and do not refresh themselves. What ok
// reports on the last attempt explains a failure.
func (b *browser) reloadUntil(what, url, cond string) {
	b.t.Helper()
	end := time.Now().Add(90 * time.Second)
	for {
		b.do("loading "+url, chromedp.Navigate(url))
		if eval[bool](b, cond) {
			return
		}
		if time.Now().After(end) {
			b.fatalf("timed out waiting for %s at %s", what, url)
		}
		// A short pause between reloads, so a busy machine is not
		// flooded; the deadline above is what bounds the wait.
		time.Sleep(250 * time.Millisecond)
	}
}

// fatalf saves a screenshot of the tab as it is, logs its path and the
// page's address, and fails the test.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if path, err := b.screenshot(); err != nil {
		b.t.Logf("no screenshot of the failure: %v", err)
	} else {
		b.t.Logf("screenshot of the failure: %s", path)
	}
	b.t.Fatal(msg)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (b *browser) screenshot() (string, error) {
	b.shotsOnce.Do(func() {
		// Not t.TempDir: that is removed when the test ends, and the
		// screenshots are for after.
		b.shots, _ = os.MkdirTemp("", "billsync-browser-failures-")
	})
	if b.shots == "" {
		return "", errors.New("no directory for screenshots")
	}
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is a PNG, anything less a JPEG
	if err != nil {
		return "", err
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	b.t.Logf("the page was %s (%s viewport)", loc, b.vp.name)
	name := unsafeName.ReplaceAllString(b.t.Name(), "_") + "-" + time.Now().Format("150405.000") + ".png"
	path := filepath.Join(b.shots, name)
	return path, os.WriteFile(path, png, 0o644)
}

// pageProblems is JavaScript that lists what is wrong with the page as
// loaded: the body wider than the viewport (and which elements stick
// out), and the basic accessibility checks.
const pageProblems = `(() => {
  const p = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) {
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      if (el.closest('.scroll')) continue; // a table that scrolls inside its box is fine
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > doc.clientWidth + 1) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).split(' ').join('.') : '') + ' right=' + Math.round(r.right));
    }
    p.push('horizontal overflow: page ' + doc.scrollWidth + 'px wide in a ' + doc.clientWidth + 'px viewport; sticking out: ' + out.slice(0, 8).join(', '));
  }
  // A control in a table that scrolls sideways is out of reach without
  // that scroll: on a phone, rows with controls stack instead.
  for (const el of document.querySelectorAll('main button, main input, main select, main textarea')) {
    const r = el.getBoundingClientRect();
    if (el.type !== 'hidden' && r.width > 0 && (r.right > doc.clientWidth + 1 || r.left < -1)) p.push('a control outside the viewport (left ' + Math.round(r.left) + ', right ' + Math.round(r.right) + '): ' + el.outerHTML.slice(0, 160));
  }
  if (!doc.getAttribute('lang')) p.push('<html> has no lang');
  if (!document.title.trim()) p.push('no <title>');
  const short = el => el.outerHTML.slice(0, 160);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const byFor = el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
    const named = byFor || el.closest('label') || (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby');
    if (!named) p.push('a form field without a label: ' + short(el));
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) p.push('an image without alt: ' + short(img));
  }
  for (const el of document.querySelectorAll('button, input[type=submit], input[type=button], input[type=reset], [role=button]')) {
    const name = (el.getAttribute('aria-label') || el.textContent || el.value || el.title || '').trim();
    if (!name) p.push('a button without an accessible name: ' + short(el));
  }
  return p;
})()`

// wideTables is JavaScript that lists the tables wider than their box: at
// a desktop width a table should fit, not make the operator scroll
// sideways (on a phone it may).
const wideTables = `[...document.querySelectorAll('.scroll')]
  .filter(s => s.scrollWidth > s.clientWidth + 1)
  .map(s => 'a table ' + s.scrollWidth + 'px wide in its ' + s.clientWidth + 'px box: ' + (s.querySelector('caption') || s).textContent.trim().slice(0, 80))`

// checkPage loads url at each viewport and fails on overflow or an
// accessibility problem.
func (b *browser) checkPage(url string) {
	b.t.Helper()
	defer b.viewport(desktop)
	for _, v := range []viewport{desktop, phone} {
		b.viewport(v)
		b.do("loading "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main h1")))
		p := eval[[]string](b, pageProblems)
		if v == desktop {
			p = append(p, eval[[]string](b, wideTables)...)
		}
		if len(p) > 0 {
			b.fatalf("%s at %s (%dx%d):\n  %s", url, v.name, v.width, v.height, strings.Join(p, "\n  "))
		}
	}
}
