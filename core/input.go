package core

// Value is one request field as the client sent it, before validation. The
// HTTP adapter fills it from JSON or form bodies; the core decides what is valid.
type Value struct {
	// Present: the key was in the request.
	Present bool
	// Null: the value was JSON null.
	Null bool
	// Text is the value as a string; JSON numbers keep their literal text.
	Text string
	// Number: the value was a JSON number.
	Number bool
	// NotText: the value was a JSON boolean, object or array.
	NotText bool
	// Bool: the value was a JSON boolean (NotText is set too); Text is then
	// "true" or "false", for the fields that take booleans.
	Bool bool
}

// Str returns a present, non-null string value, for tests and library callers.
func Str(s string) Value { return Value{Present: true, Text: s} }

// Num returns a present JSON-number value given by its literal text.
func Num(literal string) Value { return Value{Present: true, Text: literal, Number: true} }
