// Package integration runs Kubently's four services as separate components
// (each with its own NATS connection and store client, as separate
// processes would have) over one real NATS server, one real redis-server
// and a real kube-apiserver, and drives them through HTTP and the CLI.
package integration
