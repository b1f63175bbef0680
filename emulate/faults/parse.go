package faults

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Parse reads the compact fault spec that `billsync emulate … --faults`
// takes. The grammar:
//
//	spec   = [ item { ";" item } ]       blanks around items are ignored
//	item   = "seed=" int                 the Config's Seed
//	       | name [ ":" param { "," param } ]
//	param  = key "=" value
//	       | "drop" | "after" | "before" shorthand for drop=true, after=after, after=before
//	key    = rate     0.05 or 5%; absent means 1 (every matching request)
//	       | status   HTTP status, 400..599
//	       | code     error code, e.g. UNABLE_TO_LOCK_ROW; a well-known code implies its status
//	       | msg      error message (also "message")
//	       | path     URL path prefix, e.g. /services/data/
//	       | method   HTTP method
//	       | latency  Go duration, e.g. 50ms
//	       | jitter   Go duration; the latency varies by ± this much
//	       | drop     true or false
//	       | hook     a hook name, e.g. expire_tokens or drop_streams
//	       | after    before or after
//
// The free-text values (msg, code, path, hook) are URL-unescaped, so a
// message may hold "%2C" for a comma and "%3B" for a semicolon. Example:
//
//	sf500:rate=0.05,status=503,code=SERVER_UNAVAILABLE;slow:latency=50ms,jitter=20ms;drop:rate=0.01,drop
//
// Errors name the item and the parameter that is wrong. Parse does not
// check hook names; Config.Validate does, given the hooks.
func Parse(spec string) (Config, error) {
	var cfg Config
	seenSeed := false
	for i, item := range strings.Split(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if v, ok := strings.CutPrefix(item, "seed="); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || seenSeed {
				return Config{}, billsync.Errorf(billsync.EINVALID, "faults: item %d %q: seed must be given once, as an integer", i+1, item)
			}
			cfg.Seed, seenSeed = n, true
			continue
		}
		r, err := parseRule(item)
		if err != nil {
			return Config{}, billsync.Errorf(billsync.EINVALID, "faults: item %d %q: %s", i+1, item, billsync.ErrorMessage(err))
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	return cfg.Validate(nil)
}

func parseRule(item string) (Rule, error) {
	name, params, _ := strings.Cut(item, ":")
	r := Rule{Name: strings.TrimSpace(name), Rate: 1}
	if !nameRE.MatchString(r.Name) {
		return Rule{}, fmt.Errorf("name %q must be letters, digits, '_', '.' or '-'", r.Name)
	}
	if strings.TrimSpace(params) == "" {
		return r, nil
	}
	seen := map[string]bool{}
	for p := range strings.SplitSeq(params, ",") {
		p = strings.TrimSpace(p)
		key, raw, hasValue := strings.Cut(p, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !hasValue {
			switch key {
			case "drop":
				raw = "true"
			case "after", "before":
				key, raw = "after", key
			default:
				return Rule{}, fmt.Errorf("parameter %q needs a value (key=value)", p)
			}
		}
		if key == "message" {
			key = "msg"
		}
		if seen[key] {
			return Rule{}, fmt.Errorf("parameter %q is given twice", key)
		}
		seen[key] = true
		v := strings.TrimSpace(raw)
		if key == "msg" || key == "code" || key == "path" || key == "hook" {
			// Only free text is escaped: "5%" stays a rate.
			var err error
			if v, err = url.PathUnescape(v); err != nil {
				return Rule{}, fmt.Errorf("%s: bad escape in %q", key, raw)
			}
		}
		if err := setParam(&r, key, v); err != nil {
			return Rule{}, fmt.Errorf("%s=%s: %w", key, raw, err)
		}
	}
	return r, nil
}

func setParam(r *Rule, key, v string) error {
	var err error
	switch key {
	case "rate":
		r.Rate, err = parseRate(v)
	case "status":
		r.Status, err = strconv.Atoi(v)
		if err != nil {
			err = fmt.Errorf("not an integer")
		}
	case "code":
		r.Code = v
	case "msg":
		r.Message = v
	case "path":
		r.Path = v
	case "method":
		r.Method = strings.ToUpper(v)
	case "latency":
		r.Latency, err = time.ParseDuration(v)
	case "jitter":
		r.Jitter, err = time.ParseDuration(v)
	case "drop":
		r.Drop, err = strconv.ParseBool(v)
		if err != nil {
			err = fmt.Errorf("want true or false")
		}
	case "hook":
		r.Hook = v
	case "after":
		r.After = strings.ToLower(v)
	default:
		return fmt.Errorf("unknown parameter (want rate, status, code, msg, path, method, latency, jitter, drop, hook or after)")
	}
	return err
}

func parseRate(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if pct {
		f /= 100
	}
	return f, nil
}

// Spec renders c in Parse's grammar, so that a configuration can be logged
// and given back on a command line.
func (c Config) Spec() string {
	var items []string
	if c.Seed != 0 {
		items = append(items, "seed="+strconv.FormatInt(c.Seed, 10))
	}
	for _, r := range c.Rules {
		var ps []string
		add := func(k, v string) { ps = append(ps, k+"="+escape(v)) }
		if r.Rate != 1 {
			add("rate", strconv.FormatFloat(r.Rate, 'g', -1, 64))
		}
		if r.Status != 0 {
			add("status", strconv.Itoa(r.Status))
		}
		if r.Code != "" {
			add("code", r.Code)
		}
		if r.Message != "" {
			add("msg", r.Message)
		}
		if r.Path != "" {
			add("path", r.Path)
		}
		if r.Method != "" {
			add("method", r.Method)
		}
		if r.Latency != 0 {
			add("latency", r.Latency.String())
		}
		if r.Jitter != 0 {
			add("jitter", r.Jitter.String())
		}
		if r.Drop {
			ps = append(ps, "drop")
		}
		if r.Hook != "" {
			add("hook", r.Hook)
		}
		if r.After != "" {
			ps = append(ps, r.After)
		}
		item := r.Name
		if len(ps) > 0 {
			item += ":" + strings.Join(ps, ",")
		}
		items = append(items, item)
	}
	return strings.Join(items, ";")
}

// escape percent-encodes exactly the bytes the grammar gives a meaning to.
func escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '%', ',', ';', '=', ':':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
