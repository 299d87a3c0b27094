package contracts

// ProtocolVersion is the version of the messages exchanged between Kubently's
// services and between the gateway and executors. Bump it when a message
// changes incompatibly and record the change here.
//
// History:
//   - 1 (2026-11-26): first version: sessions, dispatch, bridge notify and
//     result subjects; SSE command events with ids.
const ProtocolVersion = 1
