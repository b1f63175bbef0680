package salesforce

import (
	"regexp"
	"strings"
)

// toolingChannelMemberRE is the one Tooling API query the emulator
// answers: the PlatformEventChannelMember rows of a channel, which is how
// a client finds the entities selected for Change Data Capture.
var toolingChannelMemberRE = regexp.MustCompile(`(?i)^\s*SELECT\s+([\w\s,]+?)\s+FROM\s+PlatformEventChannelMember(?:\s+WHERE\s+EventChannel\s*=\s*'([^']*)')?\s*$`)

// handleToolingQuery answers GET /tooling/query for
// PlatformEventChannelMember: one row per entity selected on the standard
// ChangeEvents channel (the emulator has no custom channels). Any other
// query is refused as an unsupported type.
func (e *Emulator) handleToolingQuery(c *call) {
	src := c.r.URL.Query().Get("q")
	m := toolingChannelMemberRE.FindStringSubmatch(src)
	if m == nil {
		writeErrors(c.w, newErr(400, "INVALID_TYPE", "the emulator's Tooling API answers only SELECT … FROM PlatformEventChannelMember [WHERE EventChannel = '…']"))
		return
	}
	var fields []string
	for _, f := range strings.Split(m[1], ",") {
		fields = append(fields, strings.TrimSpace(f))
	}
	records := []any{}
	if m[2] == "" || m[2] == "ChangeEvents" {
		for i, ent := range e.CDCSelectedEntities() {
			id := "0v8" + strings.Repeat("0", 11) + string(rune('A'+i%26))
			row := map[string]any{"attributes": map[string]any{"type": "PlatformEventChannelMember",
				"url": c.base() + "/tooling/sobjects/PlatformEventChannelMember/" + id}}
			all := map[string]any{"Id": id, "DeveloperName": "ChangeEvents_" + ent, "EventChannel": "ChangeEvents", "SelectedEntity": ent}
			for _, f := range fields {
				for k, v := range all {
					if strings.EqualFold(k, f) {
						row[k] = v
					}
				}
			}
			records = append(records, row)
		}
	}
	writeJSON(c.w, 200, map[string]any{"size": len(records), "totalSize": len(records), "done": true,
		"queryLocator": nil, "entityTypeName": "PlatformEventChannelMember", "records": records})
}
