package email

import (
	"html"
	"strings"
)

// HTMLToText derives a plain-text alternative from an HTML body: tags are
// dropped, block elements become line breaks, entities are decoded, and every
// link keeps its target visible as "text (url)" (or just the URL when the
// text already is the URL), so a reader without HTML can still follow it.
// It is a mail-body converter, not a full HTML parser: it never fails, and
// what it cannot make sense of it shows as text.
func HTMLToText(h string) string {
	var out textWriter
	type openLink struct {
		href  string
		start int
	}
	var links []openLink
	skip := "" // element whose content is not shown (head, style, …)

	for i := 0; i < len(h); {
		if h[i] != '<' || !startsTag(h, i) {
			j := strings.IndexByte(h[i+1:], '<')
			end := len(h)
			if j >= 0 {
				end = i + 1 + j
			}
			if skip == "" {
				out.text(html.UnescapeString(h[i:end]))
			}
			i = end
			continue
		}
		if strings.HasPrefix(h[i:], "<!--") {
			end := strings.Index(h[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		end := tagEnd(h, i+1)
		if end < 0 {
			if skip == "" {
				out.text(html.UnescapeString(h[i:]))
			}
			break
		}
		name, closing, attrs := parseTag(h[i+1 : end])
		i = end + 1
		if skip != "" {
			if closing && name == skip {
				skip = ""
			}
			continue
		}
		switch name {
		case "head", "style", "script", "title", "template", "noscript":
			if !closing {
				skip = name
			}
		case "br":
			out.breakLine(1)
		case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "section", "article", "header", "footer", "hr":
			out.breakLine(2)
		case "div", "tr", "dt", "dd", "address", "center":
			out.breakLine(1)
		case "li":
			out.breakLine(1)
			if !closing {
				out.word("-")
				out.space()
			}
		case "td", "th":
			out.space()
		case "img":
			if alt := attrs["alt"]; alt != "" {
				out.text(alt)
			}
		case "a":
			if !closing {
				links = append(links, openLink{href: strings.TrimSpace(attrs["href"]), start: out.len()})
				continue
			}
			if len(links) == 0 {
				continue
			}
			l := links[len(links)-1]
			links = links[:len(links)-1]
			if l.href == "" || strings.HasPrefix(l.href, "#") {
				continue
			}
			shown := strings.TrimSpace(out.since(l.start))
			switch {
			case shown == "":
				out.space()
				out.word(l.href)
			case shown == l.href || "mailto:"+shown == l.href:
			default:
				out.space()
				out.word("(" + l.href + ")")
			}
		}
	}
	return out.result()
}

// startsTag reports whether the '<' at h[i] opens markup; like browsers,
// "a < b" stays text.
func startsTag(h string, i int) bool {
	if i+1 >= len(h) {
		return false
	}
	c := h[i+1]
	return c == '/' || c == '!' || c == '?' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// tagEnd returns the index of the '>' closing the tag whose content starts at
// h[i], skipping quoted attribute values; -1 when there is none.
func tagEnd(h string, i int) int {
	var quote byte
	for ; i < len(h); i++ {
		c := h[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i > 0 && (h[i-1] == '=' || h[i-1] == ' ' || h[i-1] == '\t' || h[i-1] == '\n') {
				quote = c
			}
		case c == '>':
			return i
		}
	}
	return -1
}

// parseTag splits the inside of a tag ("a href='x'", "/p", "br/") into its
// lower-cased name, whether it closes an element, and its attributes
// (entity-decoded). Declarations such as <!DOCTYPE> have an empty name.
func parseTag(s string) (name string, closing bool, attrs map[string]string) {
	if strings.HasPrefix(s, "!") || strings.HasPrefix(s, "?") {
		return "", false, nil
	}
	if strings.HasPrefix(s, "/") {
		closing = true
		s = s[1:]
	}
	n := strings.IndexAny(s, " \t\r\n/")
	if n < 0 {
		n = len(s)
	}
	name = strings.ToLower(s[:n])
	s = s[n:]
	attrs = map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n/")
		if s == "" {
			return name, closing, attrs
		}
		n := strings.IndexAny(s, " \t\r\n/=")
		if n < 0 {
			n = len(s)
		}
		key := strings.ToLower(s[:n])
		s = strings.TrimLeft(s[n:], " \t\r\n")
		if !strings.HasPrefix(s, "=") {
			attrs[key] = ""
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		var val string
		if s != "" && (s[0] == '"' || s[0] == '\'') {
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				val, s = s[1:], ""
			} else {
				val, s = s[1:1+end], s[2+end:]
			}
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		attrs[key] = html.UnescapeString(val)
	}
}

// textWriter collapses HTML white space: words are separated by one space,
// and block boundaries by at most one blank line.
type textWriter struct {
	b            strings.Builder
	pendingSpace bool
	pendingBreak int
}

func (w *textWriter) len() int { return w.b.Len() }

func (w *textWriter) since(start int) string { return w.b.String()[start:] }

func (w *textWriter) space() { w.pendingSpace = true }

func (w *textWriter) breakLine(n int) {
	if w.pendingBreak < n {
		w.pendingBreak = n
	}
}

func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	if isHTMLSpace(s[0]) {
		w.pendingSpace = true
	}
	for _, f := range strings.Fields(s) {
		w.word(f)
		w.pendingSpace = true
	}
	if !isHTMLSpace(s[len(s)-1]) {
		w.pendingSpace = false
	}
}

func (w *textWriter) word(s string) {
	if w.b.Len() > 0 {
		switch {
		case w.pendingBreak > 0:
			w.b.WriteString(strings.Repeat("\n", w.pendingBreak))
		case w.pendingSpace:
			w.b.WriteByte(' ')
		}
	}
	w.pendingBreak, w.pendingSpace = 0, false
	w.b.WriteString(s)
}

func (w *textWriter) result() string {
	if w.b.Len() == 0 {
		return ""
	}
	return w.b.String() + "\n"
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
