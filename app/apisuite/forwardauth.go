package apisuite

import (
	"net/http"
	"testing"

	"github.com/restreg/restreg/core"
)

// testForwardAuth: auth/ tells a reverse proxy who a login token belongs
// to (200, the user in headers, no body) or refuses it with DRF's 401, at
// once after logout/ revoked it.
func testForwardAuth(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	user := e.register(newUser("oscar", "oscar@example.com"))
	token, _ := e.login("oscar", password)["token"].(string)
	for _, c := range []struct{ method, path, header string }{
		{http.MethodGet, "auth/", "Token " + token},
		{http.MethodGet, "auth", "token " + token},
		{http.MethodGet, "auth/", "Bearer " + token},
		{http.MethodHead, "auth/", "Token " + token},
	} {
		res := e.do(c.method, e.api(c.path), "", nil, "Authorization", c.header)
		h := res.Header
		if res.Status != http.StatusOK || len(res.Body) != 0 {
			t.Errorf("%s %s: %d %s, want 200 and no body", c.method, c.path, res.Status, res.Body)
		}
		if h.Get("X-User-Id") != user["id"] || h.Get("X-Username") != "oscar" || h.Get("X-User-Email") != "oscar@example.com" {
			t.Errorf("%s %s: user headers %q %q %q, want %v", c.method, c.path,
				h.Get("X-User-Id"), h.Get("X-Username"), h.Get("X-User-Email"), user)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", c.method, c.path, h.Get("Cache-Control"))
		}
	}
	for _, c := range []struct{ header, detail string }{
		{"", core.MsgAuthNotProvided},
		{"Basic b3NjYXI6cHc=", core.MsgAuthNotProvided},
		{"Token", core.MsgTokenNoCredentials},
		{"Token " + token + " x", core.MsgTokenHasSpaces},
		{"Token 0000000000000000000000000000000000000000", core.MsgTokenInvalid},
	} {
		var header []string
		if c.header != "" {
			header = []string{"Authorization", c.header}
		}
		res := e.do(http.MethodGet, e.api("auth/"), "", nil, header...)
		res.expect(t, http.StatusUnauthorized, detailBody(c.detail))
		if res.Header.Get("WWW-Authenticate") != "Token" || res.Header.Get("X-User-Id") != "" {
			t.Errorf("Authorization %q: WWW-Authenticate %q, X-User-Id %q", c.header,
				res.Header.Get("WWW-Authenticate"), res.Header.Get("X-User-Id"))
		}
	}

	e.postJSON("logout/", `{"revoke_token": true}`, "Authorization", "Token "+token).expect(t, http.StatusOK, detailBody("Logout successful"))
	res := e.do(http.MethodGet, e.api("auth/"), "", nil, "Authorization", "Token "+token)
	res.expect(t, http.StatusUnauthorized, detailBody(core.MsgTokenInvalid))
}
