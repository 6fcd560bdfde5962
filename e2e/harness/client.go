package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
)

// UserAgent is the User-Agent of every request the suites send, so specs can
// recognise their requests in events.
const UserAgent = "restreg-e2e/1"

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Response is one answer of the server, already checked against the OpenAPI
// document.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Method, URL and RequestBody describe the request, for failure messages.
	Method      string
	URL         string
	RequestBody string
}

// JSON decodes the body as a JSON object; a body that is not one fails the spec.
func (r *Response) JSON() map[string]any {
	ginkgo.GinkgoHelper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		ginkgo.Fail(fmt.Sprintf("response body is not a JSON object: %v\n%s", err, r))
	}
	return m
}

// String shows the exchange, for failure messages.
func (r *Response) String() string {
	return fmt.Sprintf("%s %s %s\n→ %d %s %s", r.Method, r.URL, r.RequestBody, r.Status, r.Header.Get("Content-Type"), r.Body)
}

// API returns the URL of an API path below BASE_PATH ("register/").
func (s *Server) API(path string) string {
	return s.BaseURL + s.BasePath + "/" + strings.TrimLeft(path, "/")
}

// PostJSON posts body (marshalled unless it is a string or []byte, which are
// sent as they are) to an API path as application/json.
func (s *Server) PostJSON(path string, body any) *Response {
	ginkgo.GinkgoHelper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			ginkgo.Fail("marshal request body: " + err.Error())
		}
	}
	return s.Send(http.MethodPost, s.API(path), "application/json", raw)
}

// PostForm posts values to an API path as application/x-www-form-urlencoded.
func (s *Server) PostForm(path string, values url.Values) *Response {
	ginkgo.GinkgoHelper()
	return s.Send(http.MethodPost, s.API(path), "application/x-www-form-urlencoded", []byte(values.Encode()))
}

// Get fetches a URL below the server's root ("/readyz").
func (s *Server) Get(path string) *Response {
	ginkgo.GinkgoHelper()
	return s.Send(http.MethodGet, s.BaseURL+path, "", nil)
}

// Send makes one request (with the extra headers given, if any) and fails the
// spec when the response is not one the OpenAPI document describes (status
// and body).
func (s *Server) Send(method, rawURL, contentType string, body []byte, header ...http.Header) *Response {
	ginkgo.GinkgoHelper()
	extra := http.Header{}
	for _, h := range header {
		for k, vs := range h {
			extra[k] = append(extra[k], vs...)
		}
	}
	resp := do(method, rawURL, contentType, body, extra)
	if err := ValidateResponse(resp); err != nil {
		doc, _ := DocumentPath()
		ginkgo.Fail(fmt.Sprintf("the response is not one %s documents: %v\n%s", doc, err, resp))
	}
	return resp
}

// do makes one request; Send checks its response against the document.
func do(method, rawURL, contentType string, body []byte, header http.Header) *Response {
	ginkgo.GinkgoHelper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		ginkgo.Fail("build request: " + err.Error())
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "application/json")
	hr, err := httpClient.Do(req)
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("%s %s: %v", method, rawURL, err))
	}
	defer hr.Body.Close()
	b, err := io.ReadAll(hr.Body)
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("%s %s: read body: %v", method, rawURL, err))
	}
	shown := string(body)
	if len(shown) > 2000 {
		shown = shown[:2000] + "…"
	}
	return &Response{Status: hr.StatusCode, Header: hr.Header, Body: b, Method: method, URL: rawURL, RequestBody: shown}
}
