package main

import (
	"github.com/spf13/cobra"

	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/sandbox"
)

// adminFlags are the flags of the commands that talk to a running
// billsync through its admin API.
type adminFlags struct {
	server string
	token  string
	json   bool
}

func (a *adminFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&a.server, "server", envOr("BILLSYNC_SERVER", "http://127.0.0.1:8080"), "billsync's URL (env BILLSYNC_SERVER)")
	f.StringVar(&a.token, "token", envOr("BILLSYNC_ADMIN_TOKEN", ""), "admin token (env BILLSYNC_ADMIN_TOKEN; the sandbox's is "+sandbox.AdminToken+")")
	f.BoolVar(&a.json, "json", false, "print JSON instead of a table")
}

func (a *adminFlags) client() *adminclient.Client {
	c := adminclient.New(a.server, a.token, nil)
	c.TokenHint = "pass one of the server's adminTokens (or readTokens, to read) with --token or BILLSYNC_ADMIN_TOKEN (the sandbox's is " + sandbox.AdminToken + ")"
	return c
}
