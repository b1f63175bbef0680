package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Every secret comes from the config file, an environment variable, or a
// file named by a …File key (or its BILLSYNC_…_FILE variable), as
// container platforms mount secrets. A secret set both ways is an error:
// which one wins would be a guess.

// secretField is one secret and the file key that may hold it instead.
type secretField struct {
	key, fileKey string // config keys, for messages
	fileEnv      string // the environment variable naming the file
	value, file  *string
}

func (c *Config) secretFields() []secretField {
	return []secretField{
		{"salesforce.clientSecret", "salesforce.clientSecretFile", "BILLSYNC_SALESFORCE_CLIENT_SECRET_FILE", &c.Salesforce.ClientSecret, &c.Salesforce.ClientSecretFile},
		{"salesforce.password", "salesforce.passwordFile", "BILLSYNC_SALESFORCE_PASSWORD_FILE", &c.Salesforce.Password, &c.Salesforce.PasswordFile},
		{"billing.token", "billing.tokenFile", "BILLSYNC_BILLING_TOKEN_FILE", &c.Billing.Token, &c.Billing.TokenFile},
		{"billing.webhookSecret", "billing.webhookSecretFile", "BILLSYNC_BILLING_WEBHOOK_SECRET_FILE", &c.Billing.WebhookSecret, &c.Billing.WebhookSecretFile},
		{"billing.quotes.token", "billing.quotes.tokenFile", "BILLSYNC_BILLING_QUOTES_TOKEN_FILE", &c.Billing.Quotes.Token, &c.Billing.Quotes.TokenFile},
		{"billing.quotes.webhookSecret", "billing.quotes.webhookSecretFile", "BILLSYNC_BILLING_QUOTES_WEBHOOK_SECRET_FILE", &c.Billing.Quotes.WebhookSecret, &c.Billing.Quotes.WebhookSecretFile},
		{"alerts.webhookUrl", "alerts.webhookUrlFile", "BILLSYNC_ALERTS_WEBHOOK_URL_FILE", &c.Alerts.WebhookURL, &c.Alerts.WebhookURLFile},
	}
}

// ReadSecrets applies the BILLSYNC_…_FILE variables and
// BILLSYNC_DATABASE_PASSWORD, then reads every file a …File key names
// into its secret. LoadConfig calls it after the environment.
func ReadSecrets(cfg *Config, getenv func(string) string) error {
	for _, f := range cfg.secretFields() {
		if v := getenv(f.fileEnv); v != "" {
			*f.file = v
		}
		if *f.file == "" {
			continue
		}
		if *f.value != "" {
			return fmt.Errorf("config: %s and %s are both set; keep one", f.key, f.fileKey)
		}
		v, err := ReadSecretFile(*f.file)
		if err != nil {
			return fmt.Errorf("config: %s: %w", f.fileKey, err)
		}
		*f.value = v
	}
	tokens(&cfg.AdminTokenFiles, getenv("BILLSYNC_ADMIN_TOKEN_FILES"))
	tokens(&cfg.ReadTokenFiles, getenv("BILLSYNC_READ_TOKEN_FILES"))
	if err := readTokenFiles(&cfg.AdminTokens, cfg.AdminTokenFiles, "adminTokens", "adminTokenFiles"); err != nil {
		return err
	}
	if err := readTokenFiles(&cfg.ReadTokens, cfg.ReadTokenFiles, "readTokens", "readTokenFiles"); err != nil {
		return err
	}
	return databasePassword(cfg, getenv)
}

// readTokenFiles adds each named token file's token to *dst.
func readTokenFiles(dst *map[string]string, files map[string]string, key, fileKey string) error {
	for name, path := range files {
		if _, ok := (*dst)[name]; ok {
			return fmt.Errorf("config: token %q is in both %s and %s; keep one", name, key, fileKey)
		}
		tok, err := ReadSecretFile(path)
		if err != nil {
			return fmt.Errorf("config: %s %q: %w", fileKey, name, err)
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		(*dst)[name] = tok
	}
	return nil
}

// databasePassword sets the password from BILLSYNC_DATABASE_PASSWORD,
// BILLSYNC_DATABASE_PASSWORD_FILE or databasePasswordFile into the
// database URL, so the URL in the config file need not hold it.
func databasePassword(cfg *Config, getenv func(string) string) error {
	if v := getenv("BILLSYNC_DATABASE_PASSWORD_FILE"); v != "" {
		cfg.DatabasePasswordFile = v
	}
	pw := getenv("BILLSYNC_DATABASE_PASSWORD")
	if cfg.DatabasePasswordFile != "" {
		if pw != "" {
			return fmt.Errorf("config: BILLSYNC_DATABASE_PASSWORD and databasePasswordFile are both set; keep one")
		}
		var err error
		if pw, err = ReadSecretFile(cfg.DatabasePasswordFile); err != nil {
			return fmt.Errorf("config: databasePasswordFile: %w", err)
		}
	}
	if pw == "" {
		return nil
	}
	if cfg.Database == "" {
		return fmt.Errorf("config: a database password is set but database (the PostgreSQL URL) is not")
	}
	if dsnPassword(cfg.Database) != "" {
		return fmt.Errorf("config: the database URL already holds a password; keep it there or in the password file or variable, not both")
	}
	dsn, err := withPassword(cfg.Database, pw)
	if err != nil {
		return err
	}
	cfg.Database = dsn
	return nil
}

// ReadSecretFile reads a secret from a file, without the one trailing
// newline editors and `echo` add.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the path, never the content.
		return "", err
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

var kvPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// dsnPassword is the password in a postgres:// URL or key=value DSN.
func dsnPassword(dsn string) string {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return ""
		}
		if pw, ok := u.User.Password(); ok {
			return pw
		}
		return u.Query().Get("password")
	}
	m := kvPassword.FindStringSubmatch(dsn)
	if m == nil {
		return ""
	}
	v := m[1]
	if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
		v = v[1 : len(v)-1]
		v = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v)
	}
	return v
}

// withPassword returns dsn with password pw.
func withPassword(dsn, pw string) (string, error) {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's message quotes the URL.
			return "", fmt.Errorf("config: database: the URL does not parse")
		}
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pw)
		return u.String(), nil
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw)
	return dsn + " password='" + quoted + "'", nil
}

// Secrets lists every secret value the configuration holds, for tests
// and checks that none is ever written out.
func (c Config) Secrets() []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	for _, f := range c.secretFields() {
		add(*f.value)
	}
	for _, m := range []map[string]string{c.AdminTokens, c.ReadTokens} {
		for _, v := range m {
			add(v)
		}
	}
	add(dsnPassword(c.Database))
	sort.Strings(out)
	return out
}
