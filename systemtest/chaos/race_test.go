//go:build chaos && race

package chaos

// Under -race the child is built with it too, as the re-executed test
// binary it replaces was.
func init() { buildFlags = append(buildFlags, "-race") }
