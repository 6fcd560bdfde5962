package core

// Message is one e-mail, ready for a mailer.
type Message struct {
	// From is the sender address ("Name <addr>" or "addr").
	From string
	// ReplyTo is the Reply-To address; empty means none.
	ReplyTo string
	// To lists the recipients.
	To []string
	// Subject is a single line.
	Subject string
	// Text is the text/plain body (always present).
	Text string
	// HTML is the text/html alternative; empty means a text-only message.
	HTML string
}
