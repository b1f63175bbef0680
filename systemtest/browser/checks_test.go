package browser

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// badPage breaks every rule pageProblems checks.
const badPage = `<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body>
<main><h1>Bad</h1>
<div style="width:2000px">too wide <button style="margin-left:1800px">Far</button></div>
<input id="nolabel" name="q">
<label>Wrapped <input name="fine"></label>
<label for="fine2">For</label><input id="fine2">
<input aria-label="Named" name="fine3">
<img src="data:,">
<button></button><button aria-label="Fine"></button><button>Fine</button>
<div class="scroll" style="overflow-x:auto;width:300px"><table style="width:900px"><caption>Too wide a table</caption><tr><td>x</td></tr></table></div>
</main></body></html>`

// goodPage breaks none.
const goodPage = `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width"><title>Good</title></head><body>
<main><h1>Good</h1><label for="q">Query</label><input id="q"><img src="data:," alt=""><button>Go</button></main></body></html>`

// TestPageChecks proves the console's page checks find what they look
// for, so that TestConsole passing means the pages are clean and not
// that the checks are blind.
func TestPageChecks(t *testing.T) {
	path := requireChromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/good" {
			w.Write([]byte(goodPage))
			return
		}
		w.Write([]byte(badPage))
	}))
	defer srv.Close()
	b := newBrowser(t, path)

	b.do("loading the bad page", chromedp.Navigate(srv.URL+"/bad"))
	got := strings.Join(eval[[]string](b, pageProblems), "\n")
	for _, want := range []string{"horizontal overflow", "<html> has no lang", "no <title>",
		`label: <input id="nolabel"`, "image without alt", "a control outside the viewport", "button without an accessible name: <button></button>"} {
		if !strings.Contains(got, want) {
			t.Errorf("the checks missed %q; they found:\n%s", want, got)
		}
	}
	if wide := eval[[]string](b, wideTables); len(wide) != 1 || !strings.Contains(wide[0], "Too wide a table") {
		t.Errorf("the desktop check found %q, want the one wide table", wide)
	}
	for _, clean := range []string{`name="fine"`, `id="fine2"`, `name="fine3"`, `aria-label="Fine"`} {
		if strings.Contains(got, clean) {
			t.Errorf("the checks flagged %s, which is fine; they found:\n%s", clean, got)
		}
	}
	for _, v := range []viewport{desktop, phone} {
		b.viewport(v)
		b.do("loading the good page", chromedp.Navigate(srv.URL+"/good"))
		if p := eval[[]string](b, pageProblems); len(p) > 0 {
			t.Errorf("a clean page at %s: %v", v.name, p)
		}
	}
}
