// Package store defines the state Kubently keeps outside its processes —
// sessions with TTLs, the per-cluster executor bridge queue and executor
// presence — as one small interface with two implementations: redisstore
// (production, Redis) and jsstore (the embedded default, NATS JetStream).
// Both pass the conformance suite in storetest.
//
// # Usage
//
// Services depend on the narrow interface they use (Sessions, Bridge or
// Presence), declared here so both implementations satisfy it, and get a
// Store from redisstore.New or jsstore.New at their composition root.
//
// # Concurrency
//
// Implementations are safe for concurrent use by many goroutines and many
// processes (replicas) at once; every method takes a context and honours
// its deadline.
package store

import (
	"context"
	"errors"
	"time"

	"kubently.io/libs/contracts"
)

// Sentinel errors. Implementations wrap them with detail; callers use errors.Is.
var (
	// ErrNotFound: no such session, command or record (or it is gone).
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a record with that id already exists.
	ErrExists = errors.New("store: already exists")
	// ErrConflict: a compare-and-set found the record changed meanwhile;
	// nothing was written.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the backing server could not be reached.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrInvalid: an argument was malformed (empty or bad id, non-positive
	// TTL or max, zero deadline); nothing was read or written.
	ErrInvalid = errors.New("store: invalid argument")
)

// SessionTombstone is how long a session's record is kept after it expired
// or ended, so that a client is told "expired" or "ended" rather than "not
// found".
const SessionTombstone = 24 * time.Hour

// OwnerGrace is the default time Bridge.Owner still knows a command after
// its deadline, so that a result arriving just late is still attributed.
const OwnerGrace = 60 * time.Second

// SeenRetention is how long Presence.LastSeen remembers a cluster's last
// stream after it ended.
const SeenRetention = 24 * time.Hour

// Visibility is the default lease of a claimed command: how long it stays
// invisible to other claimers while its executor has not acknowledged it.
const Visibility = 10 * time.Second

// Sessions stores debugging sessions with a TTL.
type Sessions interface {
	// CreateSession stores s as active for ttl from now (s.ExpiresAt and
	// s.TTLSeconds are set by the caller). ErrExists if s.ID is taken.
	CreateSession(ctx context.Context, s contracts.Session, ttl time.Duration) error
	// GetSession returns a session with State computed: active while its
	// TTL runs, ended after EndSession, expired once the TTL passed. A
	// session unknown (or older than SessionTombstone) is ErrNotFound.
	GetSession(ctx context.Context, id string) (contracts.Session, error)
	// TouchSession extends an active session to expire ttl from now and
	// returns it with the new ExpiresAt and TTLSeconds. A session that is
	// not active comes back unchanged with its State (expired or ended) and
	// no error; ErrNotFound if unknown.
	TouchSession(ctx context.Context, id string, ttl time.Duration) (contracts.Session, error)
	// EndSession marks an active session ended and returns it. Ending an
	// ended or expired session returns it unchanged; ErrNotFound if unknown.
	EndSession(ctx context.Context, id string) (contracts.Session, error)
	// ListSessions returns the active sessions of a cluster, oldest first.
	ListSessions(ctx context.Context, cluster string) ([]contracts.Session, error)
}

// Bridge is the per-cluster queue of commands waiting for an executor.
//
// Delivery is at least once up to the executor's acknowledgement: Claim
// leases a command to a consumer for the store's visibility timeout; Ack
// removes it for good; a leased command not acknowledged in time can be
// claimed again (by any consumer). No command is returned past its
// deadline.
type Bridge interface {
	// Enqueue appends cmd to its cluster's queue and records which cluster
	// it was issued to until its deadline (see Owner). Enqueueing a command
	// again (a retry) is allowed; an id that was fenced (see Fence) or
	// issued to another cluster is ErrConflict and nothing is queued.
	Enqueue(ctx context.Context, cmd contracts.Command) error
	// Claim leases up to max commands from the cluster's queue to consumer
	// (one executor stream), oldest first: commands never claimed, and
	// commands whose lease ran out without an Ack. A leased command is not
	// handed to anyone else until its lease runs out. Commands past their
	// deadline are dropped, never returned. An empty queue returns no
	// commands and no error; it never blocks waiting for commands.
	Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error)
	// Ack acknowledges commands of the cluster an executor received: they
	// leave the queue and are never handed out again. Ids that are
	// unknown, already acknowledged, dropped, or queued for another
	// cluster are ignored. It returns how many commands it removed.
	Ack(ctx context.Context, cluster string, commandIDs []string) (int, error)
	// Owner returns the cluster a command was issued to. ErrNotFound if the
	// id is unknown or its deadline passed more than a short grace ago.
	Owner(ctx context.Context, commandID string) (string, error)
	// MarkAnswered records, in one atomic step, that executorID posted the
	// command's result. The first call for a command returns first=true
	// and prevExecutor=executorID; every later call returns first=false
	// and the executor the first call recorded, whoever calls. The record
	// lives exactly as long as Owner knows the command (its deadline plus
	// the owner grace). ErrNotFound if Owner does not know the command.
	MarkAnswered(ctx context.Context, commandID, executorID string) (first bool, prevExecutor string, err error)
	// Hold records, once, which executor instance acknowledged a command
	// of cluster: the first call wins and later calls change nothing (an
	// acknowledged command is never handed out again, so only the late-ack
	// caveat can make a second one). The record lives exactly as long as
	// Owner knows the command. ErrNotFound if Owner does not know the
	// command or it was issued to another cluster.
	Hold(ctx context.Context, cluster, commandID string, holder contracts.CommandHolder) error
	// Holder returns the instance Hold recorded for a command; ErrNotFound
	// if none (not acknowledged yet, unknown, or expired).
	Holder(ctx context.Context, commandID string) (contracts.CommandHolder, error)
	// Fence settles whether a command id was ever enqueued, for a caller
	// that lost track of its request (a message bus reconnect). If no
	// Enqueue of the id happened yet, it records a fence until `until`, so
	// that none ever will (Enqueue then fails with ErrConflict), and
	// returns Queued=false: the command did not and will not run. Otherwise
	// it changes nothing and returns Queued=true and the executor
	// MarkAnswered recorded, if any. Fencing a fenced id again is
	// Queued=false. Owner and MarkAnswered treat a fenced id as unknown.
	Fence(ctx context.Context, commandID string, until time.Time) (CommandState, error)
	// Depth returns how many commands of the cluster are not acknowledged
	// yet: waiting, or leased and not acknowledged (nor trimmed by the
	// queue's length cap). One whose deadline passed but that no Claim
	// has dropped yet may still be counted (redisstore drops them only
	// when claiming; jsstore when their message TTL fires, rounded up to a
	// whole second), so Depth is an upper bound. An unknown or never-used
	// cluster has depth 0. Depth is cheap (one round trip, O(1) on the
	// server): fit for metrics after every claim and for admission
	// control.
	Depth(ctx context.Context, cluster string) (int, error)
	// Queues reports, in one call for many clusters, the queues of those
	// of clusters that are not empty: their Depth and whether they hold a
	// command a Claim would lease now. A gateway replica asks about every
	// cluster it holds streams of every few dozen poll intervals, and
	// through IndexedQueues in between; an empty queue costs little.
	// Clusters whose queue is empty (or unknown, or never
	// used) are left out; the rest keep the order of clusters. An invalid
	// cluster id is ErrInvalid and nothing is read.
	Queues(ctx context.Context, clusters []string) ([]QueueState, error)
	// IndexedQueues answers as Queues does, from the store's index of the
	// queues that are not empty, so that its cost follows the clusters
	// whose queue holds commands rather than len(clusters). The index is
	// written next to the queue, not in the same atomic step (on Redis the
	// two are keys in different slots), so it may lose an entry when the
	// store fails in between: such a queue is left out until a Queues
	// call, which sees every queue and restores the index. A caller that
	// relies on it to find commands (the gateway's sweep) must call Queues
	// now and then, which bounds how long a lost entry delays a command.
	// A store whose Queues already costs no more (jsstore) answers both
	// alike.
	IndexedQueues(ctx context.Context, clusters []string) ([]QueueState, error)
}

// Reserver is implemented by a Bridge whose Enqueue takes two steps that a
// caller may take apart, to overlap the first with other work (the
// dispatcher overlaps it with its audit write). Enqueue is Reserve, then
// Append.
//
// Reserve records the command's owner: ErrConflict if the id was fenced or
// issued to another cluster, and nothing is recorded. From then on the id
// counts as enqueued for Fence (Queued=true), Owner, MarkAnswered and Hold,
// but no Claim returns it until Append queues it. A reserved command never
// appended stays so until its deadline plus the owner grace.
//
// Append queues a command Reserve recorded (unchecked: Append alone
// bypasses the fence).
type Reserver interface {
	Reserve(ctx context.Context, cmd contracts.Command) error
	Append(ctx context.Context, cmd contracts.Command) error
}

// HandOff is implemented by a Bridge that can queue a command and lease
// it in the same step, so that the dispatcher can hand it straight to the
// gateway replica holding one of the cluster's streams instead of waking
// the stream to Claim it: one store round trip instead of two, and no
// notify and wake-up in between. The queue stays the record: a command
// handed off and never acknowledged is claimed again when its lease runs
// out, exactly as one a Claim leased.
type HandOff interface {
	Reserver
	// AppendLeased queues cmd as Append does (unchecked: the caller
	// Reserved it) and, in the same step, leases to consumer what
	// Claim(ctx, cmd.Cluster, consumer, max) would lease right after the
	// append, returned oldest first: normally cmd alone; commands queued
	// before it that were claimable too (never leased, or their lease ran
	// out) come before it. cmd is not among them when more than max
	// older commands were claimable; it then stays queued for a Claim.
	// If the append succeeded and the lease did not, cmd is queued and
	// nothing is leased; the error says so (errors.Is ErrUnavailable or
	// not, as for Claim).
	AppendLeased(ctx context.Context, cmd contracts.Command, consumer string, max int) ([]contracts.Command, error)
	// Release ends at once the leases consumer holds on the commands
	// commandIDs of cluster, for a caller that could not hand them over:
	// they are claimable again, by any consumer, as if their lease had
	// run out, whatever visibility timeout the claimer uses. Ids not leased to consumer (never leased, leased to
	// another, acknowledged, unknown) are left alone. It returns how many
	// leases it ended.
	Release(ctx context.Context, cluster, consumer string, commandIDs []string) (int, error)
}

// QueueState is what Bridge.Queues reports of one cluster's queue.
type QueueState struct {
	// Cluster is the cluster id.
	Cluster string
	// Depth is the queue's depth, as Bridge.Depth counts it: at least 1.
	Depth int
	// Claimable: the queue holds a command a Claim would lease now, one
	// never leased or one whose lease ran out without an Ack. It is never
	// false when there is one. It may be true when there is none, which
	// costs the caller one Claim that returns nothing: redisstore says
	// true then only while the queue holds commands past their deadline
	// that no Claim has dropped yet; jsstore says true for every queue
	// that is not empty, so also when all its commands are leased.
	Claimable bool
}

// CommandState is what Bridge.Fence found about a command id.
type CommandState struct {
	// Queued: a dispatcher enqueued the command before the fence.
	Queued bool
	// AnsweredBy is the executor whose result MarkAnswered recorded (as
	// given to it, markers included); empty if none yet.
	AnsweredBy string
}

// Presence records which executor streams are connected right now. Each
// record is owned by one stream: it is written when the stream opens,
// removed when the stream ends, and vanishes on its own if the gateway
// holding it dies — after its TTL (Refresh), or once its lease is no longer
// renewed (Join).
//
// A record written by Refresh lives for its own TTL, so its stream must
// refresh it within every TTL. A record written by Join lives while its
// lease does: one RenewLease call keeps every stream joined under the
// lease connected, so a gateway replica renews one lease for all the
// streams it holds instead of refreshing each one.
type Presence interface {
	// Refresh records (or refreshes) info as connected for ttl from now.
	Refresh(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error
	// Join records (or re-records) info as connected under lease: it
	// counts as connected while the lease is live (see RenewLease) and
	// for at most ttl from now, whichever ends first; joining it again
	// starts a new ttl. A lease never renewed is not live. The record's
	// LastSeen as Connected reports it is the later of info.LastSeen and
	// the lease's latest renewal.
	Join(ctx context.Context, lease string, info contracts.ExecutorInfo, ttl time.Duration) error
	// RenewLease keeps the lease live for ttl from now, and with it every
	// stream joined under it, in one call whatever their number. It
	// reports lapsed when the lease was unknown or had run out before this
	// renewal: the streams joined under it may have been dropped meanwhile
	// (a store may remove records whose lease ran out), so their holder
	// should Join them again.
	RenewLease(ctx context.Context, lease string, ttl time.Duration) (lapsed bool, err error)
	// Leave removes one stream's record (written by Refresh or Join) at
	// once; removing a missing one is no error.
	Leave(ctx context.Context, cluster, connID string) error
	// Connected returns the live streams of a cluster (none: empty slice):
	// those whose Refresh TTL has not run out, and those joined under a
	// live lease whose Join TTL has not run out.
	Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error)
	// LastSeen returns when a stream of the cluster was last known to be
	// open: the latest Refresh, Join or Leave of any of its streams, or
	// the latest renewal of the lease of one joined under a lease, through
	// any gateway replica, stamped with the writer's clock. It outlives
	// the presence records (SeenRetention), so that a caller can tell "the
	// executor dropped a moment ago" from "no executor for a long time".
	// Once the record of a joined stream whose lease lapsed (its gateway
	// died) is gone too (its Join TTL ran out), LastSeen falls back to
	// that stream's latest Join. ErrNotFound if the cluster had no stream
	// within SeenRetention.
	LastSeen(ctx context.Context, cluster string) (time.Time, error)
}

// Store is everything a Kubently deployment keeps outside its processes.
type Store interface {
	Sessions
	Bridge
	Presence
	Clusters
	ClusterLabels
	Discovery
	// Ping checks the backing server is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases connections the store opened itself.
	Close() error
}
