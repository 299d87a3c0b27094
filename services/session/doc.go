// Package session is the root of Kubently's session module; the
// service's code lives in app (composition root) and internal/*.
package session
