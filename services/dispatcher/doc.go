// Package dispatcher is the root of Kubently's dispatcher module; the
// service's code lives in app (composition root) and internal/*.
package dispatcher
