package contracts

import "fmt"

// Command hand-off: the dispatcher's fast path to an executor stream (see
// docs/delivery.md "Hand-off"). The dispatcher queues a command and, in
// the same store step, leases it to one connected stream of the cluster
// (store.HandOff); it then sends the leased commands, in one NATS request
// (CommandHandOff), to the gateway replica holding that stream, named in
// the stream's presence record (ExecutorInfo.Gateway). The replica writes
// them to the stream and answers with a CommandHandOffReply. The queue
// stays the record: a command handed off and never acknowledged is
// claimed again when its lease runs out.
const (
	// HandOffSubjectT is the format twin of HandOffSubject:
	// kubently.gateway.v1.handoff.<gateway name>. Only the named replica
	// subscribes (no queue group); only dispatchers publish.
	HandOffSubjectT = "kubently.gateway.v1.handoff.%s"
	// HandOffWildcard matches every replica's hand-off subject (gateway
	// names may span several tokens).
	HandOffWildcard = "kubently.gateway.v1.handoff.>"

	// TypeCommandHandOff is the type of a CommandHandOff request.
	TypeCommandHandOff = "io.kubently.gateway.v1.command_handoff"
	// TypeCommandHandOffReply is the type of a CommandHandOffReply.
	TypeCommandHandOffReply = "io.kubently.gateway.v1.command_handoff_reply"

	// HandOffDelivered: the commands were written to the stream (or the
	// write failed part-way: the stream is gone and they are redelivered
	// when their lease runs out). The sender must not release them.
	HandOffDelivered = "delivered"
	// HandOffNoStream: nothing was written, and nothing will be: the
	// replica holds no stream ConnID of that cluster (it ended), or the
	// stream could not take the commands now. The sender releases their
	// leases (store.HandOff.Release) so that another stream claims them.
	HandOffNoStream = "no_stream"
)

// HandOffSubject returns the hand-off subject of a gateway replica.
func HandOffSubject(gateway string) (string, error) {
	if err := ValidateGatewayName(gateway); err != nil {
		return "", err
	}
	return fmt.Sprintf(HandOffSubjectT, gateway), nil
}

// CommandHandOff is the request on a replica's hand-off subject: write
// Commands, leased to stream ConnID of Cluster, to that stream in order.
type CommandHandOff struct {
	Type     string    `json:"type"`
	Cluster  string    `json:"cluster_id"`
	ConnID   string    `json:"conn_id"`
	Commands []Command `json:"commands"`
}

// CommandHandOffReply answers a CommandHandOff. Status is HandOffDelivered
// or HandOffNoStream.
type CommandHandOffReply struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}
