package core

import (
	"context"
	"time"
)

// EventType names a signal.
type EventType string

// The signals of django-rest-registration.
const (
	// EventUserRegistered: a new user was stored (once per user).
	EventUserRegistered EventType = "user_registered"
	// EventUserActivated: a user became active through verification (once per user).
	EventUserActivated EventType = "user_activated"
	// EventUserLoggedIn: a login handed out a token (Django's user_logged_in).
	EventUserLoggedIn EventType = "user_logged_in"
	// EventUserLoggedOut: logout/ was called (Django's user_logged_out).
	EventUserLoggedOut EventType = "user_logged_out"
	// EventUserProfileUpdated: profile/ changed the user's fields.
	EventUserProfileUpdated EventType = "user_profile_updated"
	// EventUserPasswordChanged: change-password/ replaced the password.
	EventUserPasswordChanged EventType = "user_password_changed"
	// EventUserPasswordReset: reset-password/ replaced the password.
	EventUserPasswordReset EventType = "user_password_reset"
	// EventUserChangedEmail: the user's address changed (DRR's
	// user_changed_email; OldEmail and NewEmail are set).
	EventUserChangedEmail EventType = "user_changed_email"
)

// EventVersion is the payload schema version of every event.
const EventVersion = 1

// Event is a domain signal. Its JSON form is the published payload, exactly
// as documented in openapi/events.schema.json.
type Event struct {
	// ID is unique and stable across redeliveries, so consumers can deduplicate.
	ID string `json:"event_id"`
	// Type is the signal.
	Type EventType `json:"type"`
	// Version is the payload schema version.
	Version int `json:"version"`
	// OccurredAt is when the change happened (UTC).
	OccurredAt time.Time `json:"occurred_at"`
	// User is a snapshot of the user after the change.
	User PublicUser `json:"user"`
	// Request describes the HTTP request that caused the change.
	Request RequestInfo `json:"request"`
	// OldEmail and NewEmail are user_changed_email's addresses (DRR's
	// signal arguments); empty for every other type.
	OldEmail string `json:"old_email,omitempty"`
	NewEmail string `json:"new_email,omitempty"`
	// AvailableAt is when the outbox relay may publish the event; a
	// registration holds its event back until its e-mail is sent.
	AvailableAt time.Time `json:"-"`
}

// RequestInfo identifies the request that caused a change.
type RequestInfo struct {
	ID         string `json:"id"`
	RemoteAddr string `json:"remote_addr"`
	UserAgent  string `json:"user_agent"`
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info, for the events a use case records.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the request info carried by ctx, or the zero value.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info
}
