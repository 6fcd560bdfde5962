// Package usecase holds restreg's use cases — register, verify-registration,
// login and the outbox relay — one handler each. They decide everything about
// a request and reach the world only through the interfaces in ports, so any
// adapter set (memory, SQLite, MongoDB; file, SMTP, SendGrid; any broker) can
// serve them.
package usecase
