package loadtest

import (
	"fmt"
	"html"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/restreg/restreg/ports/porttest/eml"
)

// linkPattern finds a verification link in a message body.
var linkPattern = regexp.MustCompile(`https?://[^\s"'<>]*[?&]user_id=[^\s"'<>]+`)

// maxMessage bounds how much of one .eml file is read.
const maxMessage = 1 << 20

// readLinks parses the .eml files in dir modified at or after since and
// returns the verification link of each recipient (lower-cased address).
// Files that are not verification e-mails are skipped.
func readLinks(dir string, since time.Time) (map[string]link, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read mail directory: %w", err)
	}
	links := map[string]link{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().Before(since) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		to, l, ok := parseEML(io.LimitReader(f, maxMessage))
		_ = f.Close()
		if ok {
			links[strings.ToLower(to)] = l
		}
	}
	return links, nil
}

// parseEML returns the first recipient of a message and the verification
// link in its body (text part preferred, HTML part otherwise).
func parseEML(r io.Reader) (to string, l link, ok bool) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return "", link{}, false
	}
	m, err := eml.Parse(raw)
	if err != nil || len(m.To) == 0 {
		return "", link{}, false
	}
	for _, body := range []string{m.Text, html.UnescapeString(m.HTML)} {
		if l, ok := findLink(body); ok {
			return m.To[0].Address, l, true
		}
	}
	return "", link{}, false
}

// findLink extracts user_id, timestamp and signature from the first link
// in text that carries all three.
func findLink(text string) (link, bool) {
	for _, m := range linkPattern.FindAllString(text, -1) {
		u, err := url.Parse(m)
		if err != nil {
			continue
		}
		q := u.Query()
		l := link{UserID: q.Get("user_id"), Timestamp: q.Get("timestamp"), Signature: q.Get("signature")}
		if l.UserID != "" && l.Timestamp != "" && l.Signature != "" {
			return l, true
		}
	}
	return link{}, false
}
