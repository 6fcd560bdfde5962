// Package core is restreg's domain: users, settings, events, the
// Django-compatible link signer, the password policy and the typed errors that
// every edge translates. It imports no framework and does no I/O; the use cases
// in core/usecase reach the world only through the interfaces in ports.
package core
