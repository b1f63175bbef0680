package main

import (
	_ "github.com/billsync/billsync/billingapi" // registers billing.platform contract
	"github.com/billsync/billsync/config"
)

// The configuration lives in package config; these names keep the
// commands' code short.
type (
	Config           = config.Config
	SalesforceConfig = config.SalesforceConfig
	BillingConfig    = config.BillingConfig
)

var (
	DefaultConfig = config.DefaultConfig
	LoadConfig    = config.LoadConfig
)
