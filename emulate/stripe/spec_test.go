package stripe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The spec is Stripe's own, as stripe-mock embeds it.
var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	spec.once.Do(func() {
		// go mod download, not go list -m: on a fresh machine the module
		// (a tool dependency, not built by this package) is not in the
		// module cache yet, and go list then names no directory.
		out, err := exec.Command("go", "mod", "download", "-json", "github.com/stripe/stripe-mock").Output()
		if err != nil {
			spec.err = fmt.Errorf("go mod download stripe-mock: %w", err)
			return
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Error != "" || mod.Dir == "" {
			spec.err = fmt.Errorf("go mod download stripe-mock: %v %s", err, mod.Error)
			return
		}
		path := filepath.Join(mod.Dir, "embedded", "openapi", "spec3.json")
		if _, err := os.Stat(path); err != nil {
			spec.err = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			spec.err = err
			return
		}
		doc.Servers = openapi3.Servers{{URL: "http://stripe.test"}}
		spec.doc = doc
		spec.router, spec.err = gorillamux.NewRouter(doc)
	})
	if spec.err != nil {
		t.Fatalf("load Stripe's OpenAPI spec: %v", spec.err)
	}
	return spec.doc, spec.router
}

// validate checks one exchange against the spec: the request's query and
// form parameters against the operation's parameter and body schemas (form
// values decoded from the bracket syntax and typed by the schema), and the
// response body against the response schema for its status.
func validate(router routers.Router, method, path, query string, body []byte, status int, respBody []byte) error {
	req, _ := http.NewRequest(method, "http://stripe.test"+path+"?"+query, nil)
	route, pathParams, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: not in the spec: %v", method, path, err)
	}
	op := route.Operation
	var errs []error
	// Query parameters.
	qv, err := decodeForm(query)
	if err != nil {
		errs = append(errs, err)
	}
	known := map[string]*openapi3.Schema{}
	for _, p := range op.Parameters {
		if p.Value.In == "query" {
			known[p.Value.Name] = p.Value.Schema.Value
		}
	}
	for k, v := range qv {
		s, ok := known[k]
		if !ok {
			errs = append(errs, fmt.Errorf("query parameter %q is not in the spec", k))
			continue
		}
		if err := s.VisitJSON(coerce(v, s)); err != nil {
			errs = append(errs, fmt.Errorf("query %s: %v", k, err))
		}
	}
	// Body.
	if method == http.MethodPost {
		bv, err := decodeForm(string(body))
		if err != nil {
			errs = append(errs, err)
		}
		if op.RequestBody == nil {
			if len(bv) > 0 {
				errs = append(errs, fmt.Errorf("body given where the spec has none"))
			}
		} else {
			s := op.RequestBody.Value.Content["application/x-www-form-urlencoded"].Schema.Value
			v := coerce(bv, s)
			if err := s.VisitJSON(v, openapi3.MultiErrors()); err != nil {
				errs = append(errs, fmt.Errorf("request body: %v", err))
			}
		}
	}
	// Response.
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		errs = append(errs, fmt.Errorf("response %d: %v", status, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s?%s: %w", method, path, query, errors.Join(errs...))
	}
	return nil
}

var keyRe = regexp.MustCompile(`^([^\[\]]+)((?:\[[^\[\]]*\])*)$`)

// decodeForm is the test's own reading of Stripe's bracket syntax (not
// the emulator's), into nested maps; arrays stay maps of index → value
// ("" keys for a[]) until coerce orders them.
func decodeForm(raw string) (map[string]any, error) {
	root := map[string]any{}
	pushes := map[string]int{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad form pair %q", part)
		}
		m := keyRe.FindStringSubmatch(k)
		if m == nil {
			return nil, fmt.Errorf("bad form key %q", k)
		}
		path := []string{m[1]}
		if m[2] != "" {
			path = append(path, strings.Split(strings.Trim(m[2], "[]"), "][")...)
		}
		node := root
		for i, seg := range path {
			if seg == "" { // a[]: the next free slot
				seg = strconv.Itoa(pushes[strings.Join(path[:i], ".")])
				pushes[strings.Join(path[:i], ".")]++
			}
			if i == len(path)-1 {
				node[seg] = v
				break
			}
			child, ok := node[seg].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[seg] = child
			}
			node = child
		}
	}
	return root, nil
}

// coerce types decoded form strings by the schema they must meet.
func coerce(v any, s *openapi3.Schema) any {
	if s == nil {
		return v
	}
	for _, alts := range [][]*openapi3.SchemaRef{s.AnyOf, s.OneOf} {
		for _, alt := range alts {
			c := coerce(v, alt.Value)
			if alt.Value.VisitJSON(c) == nil {
				return c
			}
		}
		if len(alts) > 0 {
			return coerce(v, alts[0].Value)
		}
	}
	switch str, isStr := v.(string); {
	case isStr && s.Type.Is("integer"):
		if n, err := strconv.ParseInt(str, 10, 64); err == nil {
			return float64(n)
		}
	case isStr && s.Type.Is("number"):
		if f, err := strconv.ParseFloat(str, 64); err == nil {
			return f
		}
	case isStr && s.Type.Is("boolean"):
		if b, err := strconv.ParseBool(str); err == nil {
			return b
		}
	}
	m, isMap := v.(map[string]any)
	switch {
	case isMap && s.Type.Is("array"):
		keys := make([]int, 0, len(m))
		for k := range m {
			n, err := strconv.Atoi(k)
			if err != nil {
				return v
			}
			keys = append(keys, n)
		}
		sort.Ints(keys)
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			var item *openapi3.Schema
			if s.Items != nil {
				item = s.Items.Value
			}
			out = append(out, coerce(m[strconv.Itoa(k)], item))
		}
		return out
	case isMap && s.Type.Is("object"):
		out := make(map[string]any, len(m))
		for k, x := range m {
			var ps *openapi3.Schema
			if p := s.Properties[k]; p != nil {
				ps = p.Value
			} else if s.AdditionalProperties.Schema != nil {
				ps = s.AdditionalProperties.Schema.Value
			}
			out[k] = coerce(x, ps)
		}
		return out
	}
	return v
}

// invalidOnPurpose marks a request a test makes invalid on purpose.
const invalidOnPurpose = "X-Test-Invalid"

// checked wraps a handler so every exchange is validated; failures are
// test errors.
func checked(t *testing.T, h http.Handler) http.Handler {
	_, router := loadSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		q, b := r.URL.RawQuery, body
		if r.Header.Get(invalidOnPurpose) != "" {
			q, b = "", nil // a request the test makes wrong: check the answer only
		}
		if err := validate(router, r.Method, r.URL.Path, q, b, rec.Code, rec.Body.Bytes()); err != nil {
			t.Errorf("spec: %v\nresponse: %.600s", err, rec.Body.String())
		}
		checkedCount.Add(1)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestValidatorCatches proves the validator can fail: a response field of
// the wrong type, a required field missing, an unknown parameter and a
// parameter of the wrong type are each reported.
func TestValidatorCatches(t *testing.T) {
	_, router := loadSpec(t)
	good := []byte(`{"id":"cus_1","object":"customer","created":1,"livemode":false,"balance":0}`)
	if err := validate(router, "GET", "/v1/customers/cus_1", "", nil, 200, good); err != nil {
		t.Fatalf("a valid exchange was refused: %v", err)
	}
	for name, c := range map[string]struct {
		method, path, query, body string
		resp                      string
	}{
		"balance as a string":  {"GET", "/v1/customers/cus_1", "", "", `{"id":"cus_1","object":"customer","created":1,"livemode":false,"balance":"0"}`},
		"created missing":      {"GET", "/v1/customers/cus_1", "", "", `{"id":"cus_1","object":"customer","livemode":false}`},
		"unknown body param":   {"POST", "/v1/customers", "", "currency=usd", string(good)},
		"amount not integer":   {"POST", "/v1/customers/cus_1/balance_transactions", "", "amount=ten&currency=usd", `{"id":"cbtxn_1","object":"customer_balance_transaction","amount":1,"created":1,"currency":"usd","customer":"cus_1","ending_balance":1,"livemode":false,"type":"adjustment"}`},
		"unknown query param":  {"GET", "/v1/customers", "colour=red", "", `{"object":"list","url":"/v1/customers","has_more":false,"data":[]}`},
		"list item wrong type": {"GET", "/v1/customers", "", "", `{"object":"list","url":"/v1/customers","has_more":false,"data":[{"id":"cus_1","object":"customer","created":"yesterday","livemode":false}]}`},
	} {
		if err := validate(router, c.method, c.path, c.query, []byte(c.body), 200, []byte(c.resp)); err == nil {
			t.Errorf("%s: the validator passed it", name)
		}
	}
}
