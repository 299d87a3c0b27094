// Package executor is the root of Kubently's executor module; the
// service's code lives in app (composition root) and internal/*.
package executor
