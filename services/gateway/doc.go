// Package gateway is the root of Kubently's HTTP gateway module; the
// service's code lives in app (composition root) and internal/*.
package gateway
