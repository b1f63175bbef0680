package main

import (
	"context"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/config"
	"github.com/billsync/billsync/engine"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/salesforce/rest"
)

// listenTo is the listener's transport (salesforce.stream) and, when
// salesforce.changeSource is cdc, its Change Data Capture setup.
func (a *App) listenTo(ctx context.Context, sf *rest.Client, eng *engine.Engine) (billsync.ChangeSource, *runner.CDCConfig, error) {
	source, err := a.eventSource(ctx, sf)
	if err != nil {
		return nil, nil, err
	}
	cdc, err := a.cdcConfig(ctx, sf, eng)
	return source, cdc, err
}

// cdcConfig is the listener's Change Data Capture setup when
// salesforce.changeSource is cdc, and nil for the trigger's platform event.
// billsync's own writes are recognised by the user that committed them,
// its integration user; an overflow resyncs the object it names.
func (a *App) cdcConfig(ctx context.Context, sf *rest.Client, eng *engine.Engine) (*runner.CDCConfig, error) {
	if a.cfg.Salesforce.ChangeSource != config.ChangeSourceCDC {
		return nil, nil
	}
	userID, _, err := sf.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("salesforce: reading the integration user's id for salesforce.changeSource cdc: %w", err)
	}
	log := a.log
	return &runner.CDCConfig{IntegrationUserID: userID, OnOverflow: func(ctx context.Context, object billsync.ObjectType) {
		if _, err := eng.StartResync(ctx, billsync.ResyncRequest{Object: object}); err != nil {
			log.Error("starting the resync after a change event overflow", "object", object, "err", err)
		}
	}}, nil
}
