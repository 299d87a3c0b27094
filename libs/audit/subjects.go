package audit

import (
	"fmt"

	"kubently.io/libs/contracts"
)

// Names of the audit log, defined with the other subjects in
// libs/contracts.
const (
	// StreamName is the JetStream stream that holds the audit log.
	StreamName = contracts.AuditStreamName
	// SubjectPrefix starts every audit subject.
	SubjectPrefix = contracts.AuditSubjectPrefix
	// SubjectT is the format twin of Subject:
	// kubently.audit.v1.<event>.<cluster or NoCluster>.
	SubjectT = contracts.AuditSubjectT
	// SubjectWildcard matches every audit subject; it is the stream's only
	// subject.
	SubjectWildcard = contracts.AuditSubjectWildcard
	// NoCluster is the cluster token of records that name no cluster
	// (token and key events, denied authentication). It is not a valid
	// cluster id, so it cannot collide with one.
	NoCluster = "_"
)

// Subject returns the subject a record of event e about cluster is
// published on; an empty cluster maps to NoCluster.
func Subject(e Event, cluster string) (string, error) {
	if !e.Known() {
		return "", fmt.Errorf("%w: unknown event %q", ErrInvalid, clip(string(e), 64))
	}
	if cluster == "" {
		cluster = NoCluster
	} else if err := validateCluster(cluster); err != nil {
		return "", err
	}
	return fmt.Sprintf(SubjectT, e, cluster), nil
}

// FilterSubject returns the subject filter selecting records of event e
// about cluster, where an empty e or cluster matches any. Both empty gives
// SubjectWildcard. Records without a cluster are selected by cluster
// NoCluster.
func FilterSubject(e Event, cluster string) (string, error) {
	ev, cl := "*", "*"
	if e != "" {
		if !e.Known() {
			return "", fmt.Errorf("%w: unknown event %q", ErrInvalid, clip(string(e), 64))
		}
		ev = string(e)
	}
	if cluster != "" {
		if cluster != NoCluster {
			if err := validateCluster(cluster); err != nil {
				return "", err
			}
		}
		cl = cluster
	}
	if e == "" && cluster == "" {
		return SubjectWildcard, nil
	}
	return fmt.Sprintf(SubjectT, ev, cl), nil
}
