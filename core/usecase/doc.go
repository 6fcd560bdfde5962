// Package usecase holds restreg's use cases — register, verify-registration,
// login and the outbox relay — one handler each. They decide everything about
// a request and reach the world only through the interfaces in ports, so any
// adapter set (memory, SQLite, MongoDB; file, SMTP, SendGrid; any broker) can
// serve them.
//
// Each use case is built from exactly what it uses: a Config with the
// settings it follows (NewRegisterConfig and the like make one from
// core.Settings) and the ports it calls. What several share is a small type
// of its own — Links signs verification links, Logins finds a login's
// accounts, Emails sends the e-mails, Throttle counts requests — and the
// background workers they hand work to are woken through Notifier. The
// request use cases wrap themselves in package decorator when they are
// built, so what every caller needs (the failure log) cannot be left out.
package usecase
