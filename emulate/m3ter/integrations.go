package m3ter

import (
	"net/url"
	"regexp"
	"strings"
)

var notificationFields = fields{
	"name":            {kind: kStr, required: true, minLen: 1},
	"description":     {kind: kStr, required: true, minLen: 1},
	"active":          {kind: kBool},
	"alwaysFireEvent": {kind: kBool},
	"calculation":     {kind: kStr},
	"code":            {kind: kStr, required: true, minLen: 1},
	"eventName":       {kind: kStr, required: true, minLen: 1},
}

var notifications = &resource{
	kind: kNotification, what: "Notification", path: "/notifications/configurations", idParam: "id", maxPage: 100,
	req: notificationFields,
	filter: func(c *call, o obj) bool {
		q := c.r.URL.Query()
		if v := q.Get("eventName"); v != "" && o["eventName"] != v {
			return false
		}
		if v := q.Get("active"); v != "" && (o["active"] == true) != (v == "true") {
			return false
		}
		return true
	},
	validate: func(e *Emulator, c *call, in, old obj) *apiError {
		if _, ok := in["active"]; !ok {
			in["active"] = true // PROVISIONAL: a rule is active unless switched off
		}
		return uniqueCode(e, kNotification, "Notification", in, old)
	},
}

// uniqueCode refuses a code another record of the kind has.
func uniqueCode(e *Emulator, kind, what string, in, old obj) *apiError {
	code := strOf(in["code"])
	if code == "" {
		return nil
	}
	for _, o := range e.tables[kind].order {
		if o["code"] == code && (old == nil || o["id"] != old["id"]) {
			return badRequest("A %s with code %q already exists", what, code)
		}
	}
	return nil
}

var destinationFields = fields{
	"url":         {kind: kStr, required: true, minLen: 1},
	"credentials": {kind: kCreds, required: true},
	"name":        {kind: kStr, required: true, minLen: 1},
	"description": {kind: kStr, required: true},
	"code":        {kind: kStr},
	"active":      {kind: kBool},
}

var destinations = &resource{
	kind: kDestination, what: "Destination", path: "/integrationdestinations/webhooks", idParam: "id", maxPage: 200,
	req: destinationFields,
	validate: func(e *Emulator, c *call, in, old obj) *apiError {
		u, err := url.Parse(strOf(in["url"]))
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return badRequest("url must be an http or https URL")
		}
		if _, ok := in["active"]; !ok {
			in["active"] = true
		}
		in["credentials"] = known(in["credentials"].(map[string]any), signedCredFields)
		if old != nil {
			in["_credId"] = old["_credId"]
		} else {
			in["_credId"] = newUUID()
		}
		return uniqueCode(e, kDestination, "Destination", in, old)
	},
	// The spec's response has no description, and the secret is not
	// shown back.
	render: func(e *Emulator, o obj) obj {
		out := public(o)
		delete(out, "description")
		cr, _ := o["credentials"].(map[string]any)
		out["credentials"] = obj{
			"id": o["_credId"], "type": cr["type"], "destination": "WEBHOOK", "destinationId": o["id"],
			"apiKey": cr["apiKey"], "version": int64(1),
		}
		return out
	},
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

var integrationFields = fields{
	"entityType":               {kind: kStr, required: true, minLen: 1},
	"entityId":                 {kind: kStr},
	"destination":              {kind: kStr, required: true, minLen: 1},
	"destinationId":            {kind: kStr},
	"configData":               {kind: kObject},
	"credentials":              {kind: kObject},
	"integrationCredentialsId": {kind: kStr},
	"name":                     {kind: kStr},
}

var integrations = &resource{
	kind: kIntegration, what: "IntegrationConfig", path: "/integrationconfigs", idParam: "id", maxPage: 200,
	req: integrationFields,
	filter: func(c *call, o obj) bool {
		v := c.r.URL.Query().Get("destinationId")
		return v == "" || o["destinationId"] == v
	},
	validate: func(e *Emulator, c *call, in, old obj) *apiError {
		for _, f := range []string{"entityType", "destination"} {
			if !namePattern.MatchString(strOf(in[f])) {
				return badRequest("%s may hold only letters, digits, '_' and '-'", f)
			}
		}
		if in["entityType"] == "Notification" {
			if id := strOf(in["entityId"]); e.tables[kNotification].byID[id] == nil {
				return badRequest("entityId %q is not a Notification", id)
			}
		}
		if strings.EqualFold(strOf(in["destination"]), "webhook") {
			if id := strOf(in["destinationId"]); e.tables[kDestination].byID[id] == nil {
				return badRequest("destinationId %q is not a webhook Destination", id)
			}
		}
		delete(in, "credentials") // not part of the response: kept out
		if _, ok := in["configData"]; !ok {
			in["configData"] = map[string]any{}
		}
		in["enabled"], in["authorized"], in["triggerType"] = true, true, "EVENT"
		if old != nil {
			in["enabled"] = old["enabled"]
		}
		return nil
	},
}

// getIntegrationRun is GET integrationconfigs/{id}, which the spec answers
// with an IntegrationRun: PROVISIONAL, the config with the status of its
// latest webhook delivery (WAITING before any).
func (e *Emulator) getIntegrationRun(c *call) (any, *apiError) {
	o, ae := integrations.lookup(e, c)
	if ae != nil {
		return nil, ae
	}
	run := obj{
		"id": o["id"], "version": o["version"], "entityType": o["entityType"], "entityId": strOf(o["entityId"]),
		"destination": o["destination"], "status": "WAITING",
		"dtCreated": o["dtCreated"], "dtLastModified": o["dtLastModified"], "createdBy": o["createdBy"], "lastModifiedBy": o["lastModifiedBy"],
	}
	if run["entityId"] == "" {
		run["entityId"] = o["id"] // the spec requires one
	}
	for _, k := range []string{"destinationId"} {
		if v, ok := o[k]; ok {
			run[k] = v
		}
	}
	if s := strOf(o["_runStatus"]); s != "" {
		run["status"] = s
	}
	if s := strOf(o["_runError"]); s != "" {
		run["error"] = s
	}
	if s := strOf(o["_runAt"]); s != "" {
		run["dtStarted"] = s
		if run["status"] == "COMPLETE" {
			run["dtCompleted"] = s
		}
	}
	return run, nil
}

func integrationRoutes() []route {
	var rs []route
	rs = append(rs, notifications.routes()...)
	rs = append(rs, destinations.routes()...)
	for _, r := range integrations.routes() {
		if r.method == "GET" && r.maxPage == 0 {
			r.do = (*Emulator).getIntegrationRun
		}
		rs = append(rs, r)
	}
	return rs
}
