package core

import (
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// One mailbox can be written many ways: the domain in Unicode or in its
// punycode (A-label) form, in fullwidth letters, with soft hyphens or
// zero-width spaces that resolvers ignore; the local part quoted when it
// need not be. Uniqueness and rate limits must see one mailbox as one, so
// they compare canonical keys, while the address itself is stored and shown
// as the user typed it.

// emailIDNA converts a domain to the ASCII form resolvers look up: UTS #46
// non-transitional mapping (so "straße" stays distinct from "strasse", as
// registries now treat them), the bidi and joiner rules of IDNA 2008, LDH
// ASCII only, and DNS lengths (no empty label, none over 63 octets, at most
// 253 in all). Hyphens in the third and fourth position ("r3---sn") and a
// top-level label starting with one are left to Django's rules, as browsers
// leave them, since real hosts use them.
var emailIDNA = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(false),
	idna.VerifyDNSLength(true),
)

// canonicalDomain returns the domain of an address as mail is routed to
// it: NFKC, then IDNA to the A-label, lower case; an address literal in its
// shortest form ("[2001:db8::1]"). ok is false when the domain has no such
// form (IDNA refuses it).
func canonicalDomain(domain string) (string, bool) {
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		if ip, err := netip.ParseAddr(domain[1 : len(domain)-1]); err == nil {
			return "[" + ip.String() + "]", true
		}
		return asciiLower(domain), true
	}
	ace, err := emailIDNA.ToASCII(norm.NFKC.String(domain))
	if err != nil {
		return "", false
	}
	return asciiLower(ace), true
}

// unquoteLocal returns the mailbox a local part names: the content of a
// quoted string with its quoted pairs resolved (`"ann"` and `"a\nn"` are
// ann), anything else as it is. quoted reports a quoted string.
func unquoteLocal(local string) (mailbox string, quoted bool) {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		return local, false
	}
	inner := local[1 : len(local)-1]
	if !strings.Contains(inner, `\`) {
		return inner, true
	}
	var b strings.Builder
	b.Grow(len(inner))
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' && i+1 < len(inner) {
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// emailDotAtomRe matches a local part that needs no quotes: dot-separated
// runs of RFC 5322 atext, and (RFC 6531) any non-ASCII character.
var emailDotAtomRe = regexp.MustCompile(`^[!#-'*+\-/-9=?A-Z^-~\x{80}-\x{10ffff}]+(?:\.[!#-'*+\-/-9=?A-Z^-~\x{80}-\x{10ffff}]+)*\z`)

// quoteLocal writes a mailbox name back as a local part: bare when it is a
// dot-atom, otherwise quoted with only '"' and '\' escaped, so each mailbox
// has exactly one spelling.
func quoteLocal(mailbox string) string {
	if emailDotAtomRe.MatchString(mailbox) {
		return mailbox
	}
	var b strings.Builder
	b.Grow(len(mailbox) + 2)
	b.WriteByte('"')
	for i := 0; i < len(mailbox); i++ {
		if c := mailbox[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(mailbox[i])
	}
	b.WriteByte('"')
	return b.String()
}

// splitKey returns the case-insensitive mailbox name (local part unquoted,
// lower-cased as Python lower-cases) and the canonical domain of an address;
// ok is false when there is no "@". A domain without an IDNA form is only
// lower-cased, so such input still gets a stable key (it cannot belong to a
// stored user: IsValidEmail refuses it).
func splitKey(email string) (mailbox, domain string, ok bool) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "", "", false
	}
	mailbox, _ = unquoteLocal(email[:at])
	domain, canonical := canonicalDomain(email[at+1:])
	if !canonical {
		domain = pyLower(email[at+1:])
	}
	return pyLower(mailbox), domain, true
}

// EmailKey returns the lookup and uniqueness key of an address ("" for no
// address): the local part case-insensitive and unquoted where quoting
// changes nothing (`"Ann"@x.com` is ann@x.com), the domain in its canonical
// ASCII form (NFKC, IDNA A-label, lower case), so "u@exämple.com",
// "u@xn--exmple-cua.com" and "u@EXÄMPLE.com" are one address, and
// "u@ｅｘａｍｐｌｅ.com" is "u@example.com".
func EmailKey(email string) string {
	if email == "" {
		return ""
	}
	mailbox, domain, ok := splitKey(email)
	if !ok {
		return pyLower(email)
	}
	return quoteLocal(mailbox) + "@" + domain
}

// gmailDomains are the domains whose mail server ignores dots in the local
// part: every spelling with dots reaches one inbox. Other providers differ
// (for most, "a.b" and "ab" are different people), so only these are folded.
var gmailDomains = map[string]bool{"gmail.com": true, "googlemail.com": true}

// EmailThrottleKey returns the key THROTTLE_REGISTER_EMAIL counts: the inbox
// an address reaches, as far as that can be told without asking its
// provider. It is EmailKey with a "+tag" suffix of the local part removed
// ("ann+1@x.com" and "ann+2@x.com" reach ann@x.com on most providers), and
// for gmail.com and googlemail.com (one service) also the dots, which Gmail
// ignores. It is never a uniqueness key: the tagged addresses are different
// addresses to everything but the rate limit.
func EmailThrottleKey(email string) string {
	if email == "" {
		return ""
	}
	mailbox, domain, ok := splitKey(email)
	if !ok {
		return pyLower(email)
	}
	if i := strings.IndexByte(mailbox, '+'); i > 0 {
		mailbox = mailbox[:i]
	}
	if gmailDomains[domain] {
		domain = "gmail.com"
		mailbox = strings.ReplaceAll(mailbox, ".", "")
	}
	return quoteLocal(mailbox) + "@" + domain
}

// EmailForDelivery returns the address mail is sent to: the local part as
// stored, the domain as its IDNA A-label, so that an internationalised
// domain reaches relays that do not speak SMTPUTF8. An address literal,
// an ASCII domain and an address whose domain has no A-label come back as
// given.
func EmailForDelivery(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 || isASCII(email[at+1:]) {
		return email
	}
	domain, ok := canonicalDomain(email[at+1:])
	if !ok {
		return email
	}
	return email[:at+1] + domain
}
