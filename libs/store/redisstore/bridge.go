package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

const (
	// KEYS stream, entry ids; ARGV max length, json, command id, deadline
	// ms, entry ids expiry ms. Appends the command and records its entry
	// id; the id hash lives as long as its latest command (and its grace).
	enqueueSrc = appendBody + `
return id`

	// appendBody, given KEYS and ARGV[1-5] as enqueueSrc takes them,
	// appends the command and sets local id to its entry id.
	appendBody = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'c', ARGV[2], 'i', ARGV[3], 'd', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[3], id)
if redis.call('PTTL', KEYS[2]) == -1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'GT')
end`

	// KEYS stream, entry ids; ARGV group, consumer, count, lease ms, now
	// ms. Leases up to count entries to the consumer (claimBody).
	claimSrc = `
local grp, consumer, lease = ARGV[1], ARGV[2], ARGV[4]
local want, now = tonumber(ARGV[3]), tonumber(ARGV[5])` + claimBody

	// KEYS stream, entry ids; ARGV max length, json, command id, deadline
	// ms, entry ids expiry ms, group, consumer, count, lease ms, now ms.
	// enqueueSrc's append, then claimSrc's lease, in one script (the keys
	// share a hash tag).
	appendLeasedSrc = appendBody + `
local grp, consumer, lease = ARGV[6], ARGV[7], ARGV[9]
local want, now = tonumber(ARGV[8]), tonumber(ARGV[10])` + claimBody

	// claimBody, given locals grp, consumer, want, lease (ms) and now
	// (ms), leases up to want entries to the consumer: first entries
	// whose lease ran out (XAUTOCLAIM, oldest first), then new ones
	// (XREADGROUP). Entries past their deadline (field d) are
	// acknowledged and deleted instead. Returns {entries read,
	// payload...}.
	claimBody = `
local out = {0}
local function take(e)
  out[1] = out[1] + 1
  local f = e[2]
  if not f then return end
  local c, i, d
  for k = 1, #f, 2 do
    if f[k] == 'c' then c = f[k+1] elseif f[k] == 'i' then i = f[k+1] elseif f[k] == 'd' then d = tonumber(f[k+1]) end
  end
  if c == nil or (d ~= nil and d <= now) then
    redis.call('XACK', KEYS[1], grp, e[1])
    redis.call('XDEL', KEYS[1], e[1])
    if i then redis.call('HDEL', KEYS[2], i) end
    return
  end
  out[#out+1] = c
end
local cursor = '0-0'
for _ = 1, 100 do
  local ac = redis.pcall('XAUTOCLAIM', KEYS[1], grp, consumer, lease, cursor, 'COUNT', want - out[1])
  if type(ac) == 'table' and ac.err then
    if string.sub(ac.err, 1, 7) ~= 'NOGROUP' then return redis.error_reply(ac.err) end
    redis.call('XGROUP', 'CREATE', KEYS[1], grp, '0', 'MKSTREAM')
    break
  end
  for _, e in ipairs(ac[2]) do take(e) end
  cursor = ac[1]
  if cursor == '0-0' or out[1] >= want then break end
end
if out[1] < want then
  local r = redis.call('XREADGROUP', 'GROUP', grp, consumer, 'COUNT', want - out[1], 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do take(e) end
  end
end
return out`

	// KEYS stream; ARGV group, lease ms. 1 if Claim would lease an entry
	// now: one the group never delivered (its id is above the group's
	// last-delivered-id, or there is no group yet), or a pending one idle
	// for at least the lease; else 0. Reads only.
	claimableSrc = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top == 0 then return 0 end
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, ld
  for k = 1, #g, 2 do
    if g[k] == 'name' then name = g[k+1] elseif g[k] == 'last-delivered-id' then ld = g[k+1] end
  end
  if name == ARGV[1] then last = ld end
end
if last == nil then return 1 end
local tm, ts = string.match(top[1][1], '^(%d+)-(%d+)$')
local lm, ls = string.match(last, '^(%d+)-(%d+)$')
tm, ts, lm, ls = tonumber(tm), tonumber(ts), tonumber(lm), tonumber(ls)
if tm > lm or (tm == lm and ts > ls) then return 1 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[2], '-', '+', 1) > 0 then return 1 end
return 0`

	// KEYS stream, entry ids; ARGV group, command ids... Acknowledges and
	// deletes the entries of the commands; returns how many it deleted.
	ackSrc = `
local n = 0
for k = 2, #ARGV do
  local eid = redis.call('HGET', KEYS[2], ARGV[k])
  if eid then
    redis.pcall('XACK', KEYS[1], ARGV[1], eid)
    n = n + redis.call('XDEL', KEYS[1], eid)
    redis.call('HDEL', KEYS[2], ARGV[k])
  end
end
return n`

	// KEYS stream, entry ids; ARGV group, consumer, command ids... Dates
	// the last delivery of the entries of the commands that are pending
	// for the consumer back to the epoch (XCLAIM ... TIME 1, kept by the
	// same consumer and not counted as a delivery), so that the next
	// XAUTOCLAIM takes them whatever visibility timeout its caller uses
	// (the gateway's, which the releasing dispatcher does not know).
	// Returns how many it released.
	releaseSrc = `
local n = 0
for k = 3, #ARGV do
  local eid = redis.call('HGET', KEYS[2], ARGV[k])
  if eid then
    local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], eid, eid, 1, ARGV[2])
    if type(p) == 'table' and not p.err and #p > 0 then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, eid, 'TIME', 1, 'JUSTID')
      n = n + 1
    end
  end
end
return n`

	// KEYS owner; ARGV cluster, until ms, fence marker. Records the owner
	// unless the id is fenced or another cluster's: 1 recorded (or already
	// this cluster's), 0 conflict.
	ownerSrc = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`
)

// Enqueue implements store.Bridge: Reserve, then Append.
func (s *Store) Enqueue(ctx context.Context, cmd contracts.Command) error {
	if err := s.Reserve(ctx, cmd); err != nil {
		return err
	}
	return s.Append(ctx, cmd)
}

// Reserve implements store.Reserver: the owner script. The owner key and
// the queue live under different hash tags, so Reserve and Append are two
// round trips whichever way they are taken.
func (s *Store) Reserve(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	// The owner first: a command an executor can claim must be
	// attributable when its result comes back.
	until := cmd.Deadline.Add(s.grace)
	if !until.After(time.Now()) {
		return nil
	}
	ok, err := s.ownerScript.Run(ctx, s.rdb, []string{s.ownerKey(cmd.ID)}, cmd.Cluster, until.UnixMilli(), fenced).Int()
	if err != nil {
		return fail("enqueue", err)
	}
	if ok != 1 {
		return fmt.Errorf("%w: command id %s is fenced or was issued to another cluster", store.ErrConflict, cmd.ID)
	}
	return nil
}

// Append implements store.Reserver: the enqueue script.
func (s *Store) Append(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("redisstore: encode command: %w", err)
	}
	until := cmd.Deadline.Add(s.grace)
	keys := []string{s.queueKey(cmd.Cluster), s.entryKey(cmd.Cluster)}
	if err := s.runIndexed(ctx, s.enqueueScript, cmd.Cluster, keys, s.maxLen, b, cmd.ID, cmd.Deadline.UnixMilli(), until.UnixMilli()).Err(); err != nil {
		return fail("enqueue", err)
	}
	return nil
}

// AppendLeased implements store.HandOff: enqueueSrc and claimSrc in one
// script, one round trip.
func (s *Store) AppendLeased(ctx context.Context, cmd contracts.Command, consumer string, max int) ([]contracts.Command, error) {
	if err := check.Command(cmd); err != nil {
		return nil, err
	}
	if err := check.Token("consumer", consumer); err != nil {
		return nil, err
	}
	if err := check.Max(max); err != nil {
		return nil, err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("redisstore: encode command: %w", err)
	}
	until := cmd.Deadline.Add(s.grace)
	keys := []string{s.queueKey(cmd.Cluster), s.entryKey(cmd.Cluster)}
	now := time.Now()
	res, err := s.runIndexed(ctx, s.appendLeasedScript, cmd.Cluster, keys, s.maxLen, b, cmd.ID, cmd.Deadline.UnixMilli(), until.UnixMilli(),
		group, consumer, max, millis(s.lease), now.UnixMilli()).Slice()
	if err != nil {
		return nil, fail("enqueue", err)
	}
	return decodeLeased(res, now), nil
}

// decodeLeased returns the commands of a claimBody result that are not
// past their deadline at now (any other was leased but is not returned:
// the next claim drops it).
func decodeLeased(res []any, now time.Time) []contracts.Command {
	out := make([]contracts.Command, 0, len(res)-1)
	for _, v := range res[1:] {
		str, _ := v.(string)
		var cmd contracts.Command
		if err := json.Unmarshal([]byte(str), &cmd); err != nil || cmd.Expired(now) {
			continue
		}
		out = append(out, cmd)
	}
	return out
}

// Release implements store.HandOff: one script, which ends only the
// consumer's own leases, for claimers with any visibility timeout.
func (s *Store) Release(ctx context.Context, cluster, consumer string, commandIDs []string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := check.Token("consumer", consumer); err != nil {
		return 0, err
	}
	if err := check.CommandIDs(commandIDs); err != nil {
		return 0, err
	}
	return s.runOnIDs(ctx, s.releaseScript, "release", cluster, commandIDs, group, consumer)
}

// runOnIDs runs a script over a cluster's queue keys with ARGV lead...,
// then the command ids, and returns its count; no ids, no call.
func (s *Store) runOnIDs(ctx context.Context, script *redis.Script, op, cluster string, commandIDs []string, lead ...any) (int, error) {
	if len(commandIDs) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(lead)+len(commandIDs))
	args = append(args, lead...)
	for _, id := range commandIDs {
		args = append(args, id)
	}
	n, err := script.Run(ctx, s.rdb, []string{s.queueKey(cluster), s.entryKey(cluster)}, args...).Int()
	if err != nil {
		return 0, fail(op, err)
	}
	return n, nil
}

// Claim implements store.Bridge: one script per batch, reclaiming expired
// leases (XAUTOCLAIM with the visibility timeout as min-idle) before
// reading new entries (XREADGROUP).
func (s *Store) Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := check.Token("consumer", consumer); err != nil {
		return nil, err
	}
	if err := check.Max(max); err != nil {
		return nil, err
	}
	keys := []string{s.queueKey(cluster), s.entryKey(cluster)}
	out := make([]contracts.Command, 0, min(max, 64))
	for len(out) < max {
		want := max - len(out)
		now := time.Now()
		res, err := s.claimScript.Run(ctx, s.rdb, keys, group, consumer, want, millis(s.lease), now.UnixMilli()).Slice()
		if err != nil {
			return out, fail("claim", err)
		}
		out = append(out, decodeLeased(res, now)...)
		if n, _ := res[0].(int64); int(n) < want {
			break // nothing more is claimable
		}
	}
	return out, nil
}

// Ack implements store.Bridge.
func (s *Store) Ack(ctx context.Context, cluster string, commandIDs []string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := check.CommandIDs(commandIDs); err != nil {
		return 0, err
	}
	return s.runOnIDs(ctx, s.ackScript, "ack", cluster, commandIDs, group)
}

// Depth implements store.Bridge: the length of the cluster's stream (XLEN,
// O(1)). Ack and Claim's expiry check delete the entries they finish, so
// the stream holds exactly the commands not acknowledged yet, leased or
// not, including any past their deadline that Claim has not dropped yet.
func (s *Store) Depth(ctx context.Context, cluster string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	n, err := s.rdb.XLen(ctx, s.queueKey(cluster)).Result()
	if err != nil {
		return 0, fail("depth", err)
	}
	return int(n), nil
}

// queuesBatch bounds the commands Queues sends in one pipeline.
const queuesBatch = 1000

// Queues implements store.Bridge in two pipelined passes: XLEN (O(1), the
// Depth) of every cluster's stream, then, only for the streams that hold
// entries, a read-only script that tells entries Claim would lease now
// from entries leased and still within their lease. An idle replica thus
// costs Redis one XLEN per cluster per call, in len(clusters)/1000 round
// trips. Entries past their deadline that no Claim has dropped yet count
// as claimable (the next Claim drops them). The clusters whose queue is
// not empty are (re-)added to the index of IndexedQueues, which restores
// an entry an Append lost.
func (s *Store) Queues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	for _, c := range clusters {
		if err := check.Cluster(c); err != nil {
			return nil, err
		}
	}
	lens, err := s.lengths(ctx, clusters)
	if err != nil {
		return nil, fail("queues", err)
	}
	var out []store.QueueState
	var busy []any
	for i, c := range clusters {
		if n := lens[i]; n > 0 {
			out = append(out, store.QueueState{Cluster: c, Depth: int(n)})
			busy = append(busy, c)
		}
	}
	if len(busy) > 0 {
		if err := s.rdb.SAdd(ctx, s.queueIndexKey(), busy...).Err(); err != nil {
			return nil, fail("queues", err)
		}
	}
	if err := s.claimableAll(ctx, out); err != nil {
		return nil, fail("queues", err)
	}
	return out, nil
}

// claimable runs claimableSrc (by its SHA) for each queue in one
// pipeline and sets its Claimable.
func (s *Store) claimable(ctx context.Context, queues []store.QueueState) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(queues))
	for i, q := range queues {
		cmds[i] = s.claimableScript.EvalSha(ctx, pipe, []string{s.queueKey(q.Cluster)}, group, millis(s.lease))
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, cmd := range cmds {
		n, err := cmd.Int()
		if err != nil {
			return err
		}
		queues[i].Claimable = n == 1
	}
	return nil
}

var _ store.HandOff = (*Store)(nil)
