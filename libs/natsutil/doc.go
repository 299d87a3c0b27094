// Package natsutil connects Kubently's services to NATS and runs the
// embedded NATS server (with JetStream) that `kubently dev` uses.
//
// # Usage
//
// Services call Connect with the configured URL; it retries the first
// connection until ctx ends and reconnects forever afterwards, logging each
// state change. `kubently dev` calls RunEmbedded to get an in-process server
// whose JetStream data lives in a directory, so state survives a restart.
//
// Request/reply between services goes through Request (client side) and
// Concurrent, RequestContext, DecodeRequest, Reply and ReplyError (server
// side). They carry the correlation id and the OpenTelemetry trace context
// in NATS headers: Request runs under a "nats.request <subject>" client
// span and Concurrent runs each handler under a "nats.serve <subject>"
// server span that continues it. InjectTrace and ExtractTrace do the same
// for messages published outside request/reply.
//
// # Security
//
// Each service connects as its own user (ConnConfig: a JWT credentials
// file, an NKey seed or a user and password, plus TLS) with its Role's
// reply inbox prefix (RoleOption). PermissionsFor is the one source of
// each role's subject permissions: RunEmbedded applies them to
// EmbeddedConfig.Users, ServerConfig writes them as a nats-server
// authorization block and NSCCommands as nsc commands (both printed by
// `kubently nats config`). Only gateways may publish commands, so the
// principal a dispatcher receives always comes from a gateway.
//
// # Concurrency
//
// Connect and RunEmbedded are safe to call from several goroutines; the
// returned *nats.Conn and *server.Server are themselves concurrency-safe.
package natsutil
