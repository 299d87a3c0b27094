// Package check validates the arguments of store methods, so that both
// implementations reject the same bad input with store.ErrInvalid before
// touching their backing server. Ids that pass are also safe as Redis key
// parts and as NATS subject tokens and KV keys.
package check

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

// Cluster checks a cluster id (a lower-case DNS label).
func Cluster(id string) error { return wrap(contracts.ValidateID("cluster", id)) }

// SessionID checks a session id (a lower-case DNS label).
func SessionID(id string) error { return wrap(contracts.ValidateID("session", id)) }

// CommandID checks a command id ([A-Za-z0-9_-], 1-64 characters).
func CommandID(id string) error { return wrap(contracts.ValidateCommandID(id)) }

// Token checks a consumer or connection id; it uses the command id rules.
func Token(what, id string) error {
	if err := contracts.ValidateCommandID(id); err != nil {
		return fmt.Errorf("%w: invalid %s %q: want 1-64 characters of [A-Za-z0-9_-]", store.ErrInvalid, what, id)
	}
	return nil
}

// executorIDRE is the shape of an executor id (X-Executor-ID).
var executorIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ExecutorID checks an executor id handed to MarkAnswered: 1-128
// characters of [A-Za-z0-9._-].
func ExecutorID(id string) error {
	if !executorIDRE.MatchString(id) {
		return fmt.Errorf("%w: invalid executor id %q: want 1-128 characters of [A-Za-z0-9._-]", store.ErrInvalid, id)
	}
	return nil
}

// Holder checks a command holder: a valid executor id and instance (of
// the executor id's alphabet) and, if set, a connection id.
func Holder(h contracts.CommandHolder) error {
	if err := ExecutorID(h.ExecutorID); err != nil {
		return err
	}
	if !executorIDRE.MatchString(h.Instance) {
		return fmt.Errorf("%w: invalid executor instance %q", store.ErrInvalid, h.Instance)
	}
	if h.ConnID != "" {
		return Token("connection id", h.ConnID)
	}
	return nil
}

// TTL checks that a TTL is positive.
func TTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl %v: want > 0", store.ErrInvalid, ttl)
	}
	return nil
}

// Max checks a Claim batch size.
func Max(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: max %d: want >= 1", store.ErrInvalid, n)
	}
	return nil
}

// MaxAck is the most command ids one Ack takes.
const MaxAck = 1000

// CommandIDs checks the ids handed to Ack: at most MaxAck, each valid.
func CommandIDs(ids []string) error {
	if len(ids) > MaxAck {
		return fmt.Errorf("%w: %d command ids: want at most %d", store.ErrInvalid, len(ids), MaxAck)
	}
	for _, id := range ids {
		if err := CommandID(id); err != nil {
			return err
		}
	}
	return nil
}

// Session checks a session handed to CreateSession.
func Session(s contracts.Session, ttl time.Duration) error {
	if err := SessionID(s.ID); err != nil {
		return err
	}
	if err := Cluster(s.Cluster); err != nil {
		return err
	}
	return TTL(ttl)
}

// Command checks a command handed to Enqueue.
func Command(c contracts.Command) error {
	if err := CommandID(c.ID); err != nil {
		return err
	}
	if err := Cluster(c.Cluster); err != nil {
		return err
	}
	if c.Deadline.IsZero() {
		return fmt.Errorf("%w: command %s has no deadline", store.ErrInvalid, c.ID)
	}
	return nil
}

// Info checks an executor record handed to Refresh.
func Info(info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := Cluster(info.Cluster); err != nil {
		return err
	}
	if err := Token("connection id", info.ConnID); err != nil {
		return err
	}
	return TTL(ttl)
}

// Seconds returns d in whole seconds, rounded up (so a record lives at
// least d), and at least 1.
func Seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", store.ErrInvalid, err)
}

// ClusterRecord checks a registry record.
func ClusterRecord(c store.ClusterRecord) error {
	if err := Cluster(c.ID); err != nil {
		return err
	}
	if c.Revoked() {
		if c.TokenHash != "" {
			return fmt.Errorf("%w: a revoked cluster keeps no token hash", store.ErrInvalid)
		}
		return nil
	}
	return TokenHash(c.TokenHash)
}

// TokenHash checks a token hash: 64 hex characters.
func TokenHash(h string) error {
	if len(h) != 64 {
		return fmt.Errorf("%w: token hash must be 64 hex characters", store.ErrInvalid)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("%w: token hash must be 64 hex characters", store.ErrInvalid)
	}
	return nil
}

// Discovery checks a discovery summary.
func Discovery(d contracts.ExecutorDiscovery) error { return wrap(d.Validate()) }
