package rules

import "strings"

// StageChange is the Opportunity stage update of E9.
type StageChange struct {
	Change bool
	Stage  string // the new StageName when Change
	Reason string // ReasonStageMapped, ReasonStageUnmapped, ReasonStageAlreadySet
}

// OpportunityStage maps a quote status to an Opportunity stage through the
// quotes.stageMapping setting (E9). A status that is not mapped, or mapped
// to a blank stage, changes nothing; neither does a stage the Opportunity
// already has, so that an unrelated quote edit costs no write and fires no
// Opportunity automation. Statuses match exactly, as in F5; stage names are
// compared exactly too, as Salesforce picklist values are.
func OpportunityStage(status string, mapping map[string]string, currentStage string) StageChange {
	stage := strings.TrimSpace(mapping[status])
	if stage == "" {
		return StageChange{Reason: ReasonStageUnmapped}
	}
	if stage == currentStage {
		return StageChange{Stage: stage, Reason: ReasonStageAlreadySet}
	}
	return StageChange{Change: true, Stage: stage, Reason: ReasonStageMapped}
}

// PlaceholderAction is what to do with the renewal placeholder product.
type PlaceholderAction string

const (
	PlaceholderNone   PlaceholderAction = "none"
	PlaceholderAdd    PlaceholderAction = "add"
	PlaceholderRemove PlaceholderAction = "remove"
)

// PlaceholderInput is what the E9 renewal-placeholder rule depends on.
type PlaceholderInput struct {
	ManualRenewal bool // the quote's manualRenewal flag
	// ProductCode is the quotes.renewalPlaceholderProduct setting; blank
	// turns the feature off.
	ProductCode string
	Existing    []OppProduct // every OpportunityLineItem on the Opportunity
}

// PlaceholderDecision says whether to add the placeholder product to the
// Opportunity, or which placeholder products to remove.
type PlaceholderDecision struct {
	Action PlaceholderAction
	Remove []OppProduct // when Action is PlaceholderRemove
	Reason string
}

// RenewalPlaceholder applies E9: add the placeholder when the quote is
// flagged for manual renewal and the Opportunity has none; remove every
// placeholder when the flag is off; otherwise nothing. A placeholder is
// recognised by its ProductCode only when billsync did not sync it as a
// quote line (BillingQuoteItemId__c blank): a quote that sells the
// placeholder product as a real line keeps that line.
func RenewalPlaceholder(in PlaceholderInput) PlaceholderDecision {
	if strings.TrimSpace(in.ProductCode) == "" {
		return PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOff}
	}
	var present []OppProduct
	for _, p := range in.Existing {
		if p.ProductCode == in.ProductCode && p.BillingQuoteItemID == "" {
			present = append(present, p)
		}
	}
	switch {
	case in.ManualRenewal && len(present) == 0:
		return PlaceholderDecision{Action: PlaceholderAdd, Reason: ReasonPlaceholderAdd}
	case !in.ManualRenewal && len(present) > 0:
		return PlaceholderDecision{Action: PlaceholderRemove, Remove: present, Reason: ReasonPlaceholderRemove}
	}
	return PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOK}
}
