package sandbox

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
)

// SalesforceHooks are the Salesforce emulator's fault hooks.
func SalesforceHooks(emu *sfemu.Emulator) map[string]func() {
	return map[string]func(){
		faults.HookExpireTokens: func() { emu.ExpireSessions() },
		faults.HookDropStreams:  emu.DropStreams,
	}
}

// WithFaults puts a fault injector in front of an emulator's handler. It
// always wraps, even for an empty spec, so that faults can be switched on
// at run time through faults.AdminPath. spec is in faults.Parse's grammar;
// format renders the emulator's error bodies (faults.SalesforceFormat or
// faults.BillingFormat); hooks are the emulator's named side effects
// (faults.HookExpireTokens, faults.HookDropStreams), checked against the
// spec here so that a typo fails at start rather than silently at run time.
func WithFaults(h http.Handler, spec string, format func(int, string, string) (string, []byte), hooks map[string]func(), log *slog.Logger) (http.Handler, *faults.Injector, error) {
	cfg, err := faults.Parse(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("--faults: %w", err)
	}
	if cfg, err = cfg.Validate(hooks); err != nil {
		return nil, nil, fmt.Errorf("--faults: %w", err)
	}
	inj := faults.New(cfg, format, hooks, log)
	return inj.Wrap(h), inj, nil
}
