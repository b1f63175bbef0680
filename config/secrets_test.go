package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/billsync/billsync/billingapi" // registers billing.platform contract, for Validate
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

// TestSecretsFromFiles: every secret can come from a file named by a
// …File key in the config file, with one trailing newline trimmed.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "billsync.yaml", `
database: postgres://billsync@db.internal:5432/billsync?sslmode=require
databasePasswordFile: `+writeFile(t, dir, "dbpw", "db-pw\n")+`
salesforce:
  clientId: cid
  clientSecretFile: `+writeFile(t, dir, "sfsecret", "sf-secret\n")+`
  username: integration@example.com
  passwordFile: `+writeFile(t, dir, "sfpw", "sf-pw\r\n")+`
billing:
  url: https://billing.example.com
  tokenFile: `+writeFile(t, dir, "token", "bill-token")+`
  webhookSecretFile: `+writeFile(t, dir, "whsec", "whsec_abc\n\n")+`
adminTokenFiles:
  ops: `+writeFile(t, dir, "admin", "admin-tok\n")+`
readTokens:
  dash: read-inline
readTokenFiles:
  auditor: `+writeFile(t, dir, "read", "read-tok\n")+`
`)
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"salesforce.clientSecret": cfg.Salesforce.ClientSecret, "salesforce.password": cfg.Salesforce.Password,
		"billing.token": cfg.Billing.Token, "billing.webhookSecret": cfg.Billing.WebhookSecret,
		"adminTokens.ops": cfg.AdminTokens["ops"], "readTokens.auditor": cfg.ReadTokens["auditor"],
		"readTokens.dash": cfg.ReadTokens["dash"],
	}
	for k, got := range map[string]string{
		"salesforce.clientSecret": "sf-secret", "salesforce.password": "sf-pw",
		"billing.token": "bill-token", "billing.webhookSecret": "whsec_abc\n", // only one newline is trimmed
		"adminTokens.ops": "admin-tok", "readTokens.auditor": "read-tok", "readTokens.dash": "read-inline",
	} {
		if want[k] != got {
			t.Errorf("%s = %q, want %q", k, want[k], got)
		}
	}
	if want := "postgres://billsync:db-pw@db.internal:5432/billsync?sslmode=require"; cfg.Database != want {
		t.Errorf("database = %q, want %q", cfg.Database, want)
	}
	secrets := cfg.Secrets()
	for _, s := range []string{"sf-secret", "sf-pw", "bill-token", "whsec_abc\n", "admin-tok", "read-tok", "read-inline", "db-pw"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("Secrets() lacks %q: %q", s, secrets)
		}
	}
}

// TestSecretsFromEnvFiles: the BILLSYNC_…_FILE variables name the files
// too, and BILLSYNC_DATABASE_PASSWORD sets the database password.
func TestSecretsFromEnvFiles(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"BILLSYNC_SALESFORCE_CLIENT_SECRET_FILE": writeFile(t, dir, "a", "s1\n"),
		"BILLSYNC_SALESFORCE_PASSWORD_FILE":      writeFile(t, dir, "b", "s2\n"),
		"BILLSYNC_BILLING_TOKEN_FILE":            writeFile(t, dir, "c", "s3\n"),
		"BILLSYNC_BILLING_WEBHOOK_SECRET_FILE":   writeFile(t, dir, "d", "s4\n"),
		"BILLSYNC_ADMIN_TOKEN_FILES":             "ops=" + writeFile(t, dir, "e", "s5\n"),
		"BILLSYNC_READ_TOKEN_FILES":              "dash=" + writeFile(t, dir, "f", "s6\n"),
		"BILLSYNC_DATABASE_PASSWORD":             "p'w\\",
	}
	cfg := DefaultConfig()
	cfg.Database = "host=db user=billsync dbname=billsync"
	if err := ReadSecrets(&cfg, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Salesforce.ClientSecret, cfg.Salesforce.Password, cfg.Billing.Token, cfg.Billing.WebhookSecret,
		cfg.AdminTokens["ops"], cfg.ReadTokens["dash"], dsnPassword(cfg.Database)}
	if want := []string{"s1", "s2", "s3", "s4", "s5", "s6", "p'w\\"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if want := `host=db user=billsync dbname=billsync password='p\'w\\'`; cfg.Database != want {
		t.Errorf("database = %q, want %q", cfg.Database, want)
	}
}

// TestSecretsRefuseAmbiguity: a secret set both inline and by file, a
// missing or empty file, and a password beside one in the URL are
// errors naming the keys and never the values.
func TestSecretsRefuseAmbiguity(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "s", "from-file\n")
	empty := writeFile(t, dir, "empty", "\n")
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"both", func(c *Config) { c.Billing.Token, c.Billing.TokenFile = "inline-secret", file }, "billing.token and billing.tokenFile"},
		{"missing", func(c *Config) { c.Salesforce.PasswordFile = filepath.Join(dir, "nope") }, "salesforce.passwordFile"},
		{"empty", func(c *Config) { c.Billing.WebhookSecretFile = empty }, "is empty"},
		{"token both", func(c *Config) {
			c.AdminTokens = map[string]string{"ops": "inline-secret"}
			c.AdminTokenFiles = map[string]string{"ops": file}
		}, `token "ops" is in both adminTokens and adminTokenFiles`},
		{"db both", func(c *Config) {
			c.Database, c.DatabasePasswordFile = "postgres://u:inline-secret@h/db", file
		}, "already holds a password"},
		{"db without url", func(c *Config) { c.DatabasePasswordFile = file }, "database (the PostgreSQL URL) is not"},
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		err := ReadSecrets(&cfg, noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to say %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "inline-secret") || strings.Contains(err.Error(), "from-file") {
			t.Errorf("%s: the error shows a secret: %v", tc.name, err)
		}
	}
}

func TestDSNPassword(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:pw@h/db":                        "pw",
		"postgres://u@h/db?password=qp":               "qp",
		"postgres://u@h/db":                           "",
		"host=h password=plain user=u":                "plain",
		`host=h password='a b\'c' user=u`:             "a b'c",
		"host=h user=u":                               "",
		"host=h mypassword=x user=u":                  "",
		"password=first host=h":                       "first",
		"postgresql://u:p%40ss@h:5432/db?sslmode=off": "p@ss",
	} {
		if got := dsnPassword(dsn); got != want {
			t.Errorf("dsnPassword(%q) = %q, want %q", dsn, got, want)
		}
	}
}
