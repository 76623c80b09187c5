package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/icsrange/icsrange/internal/token"
)

// Tokens are the plaintext tokens handed to people, written once to
// DATA/tokens.json (mode 0600). The engine keeps only their hashes.
type Tokens struct {
	Instructor string            `json:"instructor"`
	Teams      map[string]string `json:"teams"`
}

func newTokens(teams []string) Tokens {
	t := Tokens{Instructor: token.New(), Teams: map[string]string{}}
	for _, n := range teams {
		t.Teams[n] = token.New()
	}
	return t
}

// TokensFile is the tokens file's name in the data dir.
const TokensFile = "tokens.json"

func writeTokens(dir string, t Tokens) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, TokensFile)
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, 0o600) // WriteFile keeps an existing file's mode
}

// Role is who a token belongs to.
type Role string

// Roles.
const (
	RoleNone       Role = ""
	RoleTeam       Role = "team"
	RoleInstructor Role = "instructor"
)

// auth checks tokens against their hashes.
type auth struct {
	instructor token.Hash
	teams      map[string]token.Hash
}

// who returns the role and team of a token. It compares against every hash
// so the time taken does not say which token, if any, nearly matched.
func (a *auth) who(tok string) (Role, string) {
	role, team := RoleNone, ""
	if a.instructor.Matches(tok) {
		role = RoleInstructor
	}
	for name, h := range a.teams {
		if h.Matches(tok) && role == RoleNone {
			role, team = RoleTeam, name
		}
	}
	return role, team
}
