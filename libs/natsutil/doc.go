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
// # Concurrency
//
// Connect and RunEmbedded are safe to call from several goroutines; the
// returned *nats.Conn and *server.Server are themselves concurrency-safe.
package natsutil
