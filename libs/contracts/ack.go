package contracts

// MaxAckIDs is the most command ids one executor ack may carry.
const MaxAckIDs = 256

// ExecutorAck is the body of POST /v1/executor/ack: the executor received
// (and queued) these commands, so the gateway must not hand them to
// another executor again.
type ExecutorAck struct {
	CommandIDs []string `json:"command_ids"`
}

// ExecutorAckResponse is the answer to an ExecutorAck.
type ExecutorAckResponse struct {
	// Status is always "acked".
	Status string `json:"status"`
	// Acked counts the commands removed from the queue now; ids already
	// acknowledged, expired or unknown are not counted and are no error.
	Acked int `json:"acked"`
}
