package natsutil

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ConfigUser is one role's user in a generated nats-server configuration.
// Set exactly one of Password, PasswordEnv and NKey.
type ConfigUser struct {
	// Role selects the user's permissions.
	Role Role
	// User is the user name; empty means the role's name. Not used with
	// NKey.
	User string
	// Password is the password, literal or a bcrypt hash (`nats server
	// passwd`), written into the file.
	Password string
	// PasswordEnv names an environment variable of the nats-server
	// process holding the password (the file then holds no secret).
	PasswordEnv string
	// NKey is the user's public NKey (U...), for NKey authentication.
	NKey string
}

var (
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	nkeyRE    = regexp.MustCompile(`^U[A-Z2-7]{55}$`)
)

// ServerConfig returns an `authorization` block for nats-server's
// configuration file giving each user its role's permissions
// (PermissionsFor). Include it in the server's config; clients not
// listed cannot connect.
func ServerConfig(users []ConfigUser) (string, error) {
	if len(users) == 0 {
		return "", errors.New("natsutil: no users")
	}
	var b strings.Builder
	b.WriteString("# Kubently service users and subject permissions (kubently nats config).\n")
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range users {
		p, err := PermissionsFor(u.Role)
		if err != nil {
			return "", err
		}
		set := 0
		for _, s := range []string{u.Password, u.PasswordEnv, u.NKey} {
			if s != "" {
				set++
			}
		}
		if set != 1 {
			return "", fmt.Errorf("natsutil: user of role %s: set exactly one of password, password env and nkey", u.Role)
		}
		name := u.User
		if name == "" {
			name = string(u.Role)
		}
		fmt.Fprintf(&b, "    # %s\n    {\n", u.Role.ServiceName())
		switch {
		case u.NKey != "":
			if !nkeyRE.MatchString(u.NKey) {
				return "", fmt.Errorf("natsutil: user of role %s: %q is not a public user NKey (U...)", u.Role, u.NKey)
			}
			fmt.Fprintf(&b, "      nkey: %s\n", u.NKey)
		case u.PasswordEnv != "":
			if !envNameRE.MatchString(u.PasswordEnv) {
				return "", fmt.Errorf("natsutil: user of role %s: %q is not an environment variable name", u.Role, u.PasswordEnv)
			}
			fmt.Fprintf(&b, "      user: %s\n      password: $%s\n", strconv.Quote(name), u.PasswordEnv)
		default:
			fmt.Fprintf(&b, "      user: %s\n      password: %s\n", strconv.Quote(name), strconv.Quote(u.Password))
		}
		b.WriteString("      permissions: {\n")
		writeList(&b, "publish", p.Publish)
		writeList(&b, "subscribe", p.Subscribe)
		fmt.Fprintf(&b, "        allow_responses: { max: 1, expires: %q }\n", ResponseExpires.String())
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func writeList(b *strings.Builder, name string, subjects []string) {
	fmt.Fprintf(b, "        %s: { allow: [\n", name)
	for _, s := range subjects {
		fmt.Fprintf(b, "          %s\n", strconv.Quote(s))
	}
	b.WriteString("        ] }\n")
}

// NSCCommands returns the nsc commands that add each role's user, with its
// permissions, to account (operator mode: JWTs and credentials files).
// Run them, then `nsc generate creds -a <account> -n <user>` for each
// user and give each service its file (KUBENTLY_NATS_CREDS_FILE).
func NSCCommands(account string) (string, error) {
	if !envNameRE.MatchString(strings.ReplaceAll(account, "-", "_")) {
		return "", fmt.Errorf("natsutil: account %q: want letters, digits, - and _", account)
	}
	var b strings.Builder
	for _, r := range Roles() {
		p, err := PermissionsFor(r)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "nsc add user --account %s --name %s \\\n", account, r.ServiceName())
		fmt.Fprintf(&b, "  --allow-pub '%s' \\\n", strings.Join(p.Publish, ","))
		fmt.Fprintf(&b, "  --allow-sub '%s' \\\n", strings.Join(p.Subscribe, ","))
		fmt.Fprintf(&b, "  --allow-pub-response=1 --response-ttl %s\n", ResponseExpires)
		fmt.Fprintf(&b, "nsc generate creds --account %s --name %s > %s.creds\n\n", account, r.ServiceName(), r.ServiceName())
	}
	return b.String(), nil
}
