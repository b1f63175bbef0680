package main

import (
	"log/slog"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
	"github.com/billsync/billsync/config"
)

// alertStore is what the alert rules read of the store.
type alertStore interface {
	alert.QueueStats
	alert.HeldCounter
	alert.HeldRunLister
}

// newAlerts builds the alert evaluator from the alerts.* settings: the
// stream rule reads the listener (streamErr, nil while connected or
// standing by), the queue rules the store, the budget rule the REST
// client's figures. Without alerts.webhookUrl the rules are still
// evaluated and shown at /api/v1/alerts.
//
// With several replicas sharing a store, leader picks the one that sends
// the alerts they all read alike from it; each sends its own stream alert.
func newAlerts(cfg config.AlertsConfig, store alertStore, streamErr func() error,
	budget func() (used, max int, ok bool), leader *alert.Leader, log *slog.Logger) (*alert.Evaluator, error) {
	var sender alert.Sender
	if cfg.WebhookURL != "" {
		w, err := alert.NewWebhook(cfg.WebhookURL, alert.WebhookOptions{})
		if err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "config: %v", err)
		}
		sender = leader.Sender(w, alert.StreamDown)
		log.Info("alerts are sent to a webhook", "webhook", alert.Redacted(cfg.WebhookURL), "interval", cfg.Interval)
	} else {
		log.Info("alerts.webhookUrl is not set: alerts are shown at /api/v1/alerts only")
	}
	return alert.New(alert.Config{
		Rules: []alert.Rule{
			alert.StreamRule(streamErr, cfg.StreamDownFor),
			alert.PendingRule(store, cfg.PendingAge),
			alert.DeadLetterRule(store, cfg.DeadLetterWindow),
			alert.BudgetRule(budget, cfg.BudgetShare),
			alert.HeldRule(store),
			alert.HeldRunsRule(store),
		},
		Interval: cfg.Interval, Sender: sender, Logger: log,
	})
}

// alertStatuses is what /api/v1/alerts serves.
func (a *App) alertStatuses() []alert.Status { return a.alerts.Statuses() }
