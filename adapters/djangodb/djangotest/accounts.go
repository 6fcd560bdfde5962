package djangotest

import "time"

// Account is a Django user of the standard fixture with its password in
// clear.
type Account struct {
	User
	// Algorithm is the Django hasher that made User.Password ("" when the
	// password is unusable).
	Algorithm string
	// PlainPassword logs the user in.
	PlainPassword string
	// Legacy is whether only PASSWORD_LEGACY_HASHERS lets the hash in.
	Legacy bool
}

// Password is the password of every fixture account: the hashes come from
// the vectors Django 3.2's own hashers made
// (testdata/django-password-hashes.json of the shared test data), one per
// hasher, at their lowest cost.
const Password = "correct horse battery staple"

// Joined is when the fixture's accounts joined.
var Joined = time.Date(2021, 3, 4, 5, 6, 7, 123456000, time.UTC)

// hashes are one encoded hash of Password per Django 3.2 hasher.
var hashes = []struct {
	algorithm, encoded string
	legacy             bool
}{
	{"pbkdf2_sha256", "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=", false},
	{"pbkdf2_sha1", "pbkdf2_sha1$1000$seasalt$9iRYj0as1r5j+cCBxB+HMlxkyr4=", false},
	{"argon2", "argon2$argon2id$v=19$m=256,t=1,p=1$WGIza1I5cExtMlF3WnQ3WWhONHZKYw$nF3NmZ6YvFVvyKAYJVAKVw", false},
	{"bcrypt_sha256", "bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S", false},
	{"bcrypt", "bcrypt$$2b$04$..CA.uOD/eaGAOmJB.yMBuaOWmnNUFfwORoH..MfuhEhaBiFsYEfG", false},
	{"sha1", "sha1$seasalt$4358b56128e500a125cb6b5541e52d9d202705c0", true},
	{"md5", "md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a", true},
	{"unsalted_sha1", "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d42", true},
	{"unsalted_md5", "9cc2ae8a1ba7a93da39b46fc1019c481", true},
	{"crypt", "crypt$$abhfCpXqd4GrI", true},
}

// Fixture ids of the accounts that are not one per hasher.
const (
	// InactiveID never verified its address.
	InactiveID = 500
	// CaseTwinID has the address of the pbkdf2_sha256 account (id 101)
	// spelled with different case: with USER_EMAIL_UNIQUE it is a conflict.
	CaseTwinID = 501
	// UnusableID has an unusable password (Django's "!" + 40 characters).
	UnusableID = 502
)

// Accounts returns the standard fixture: one active account per Django
// hasher (ids 101…110, username <algorithm>_user, e-mail
// <algorithm>@example.com, a DRF token each), an inactive account, one whose
// address differs from another's only in case, and one with an unusable
// password.
func Accounts() []Account {
	var out []Account
	for i, h := range hashes {
		id := int64(101 + i)
		out = append(out, Account{
			User: User{ID: id, Username: h.algorithm + "_user", Email: h.algorithm + "@example.com", FirstName: "First" + h.algorithm,
				LastName: "Last", Password: h.encoded, IsActive: true, DateJoined: Joined, LastLogin: Joined.Add(time.Duration(i) * time.Hour),
				Token: TokenKey(id)},
			Algorithm: h.algorithm, PlainPassword: Password, Legacy: h.legacy,
		})
	}
	out = append(out,
		Account{User: User{ID: InactiveID, Username: "inactive_user", Email: "inactive@example.com", Password: hashes[0].encoded,
			DateJoined: Joined, Token: TokenKey(InactiveID)}, Algorithm: hashes[0].algorithm, PlainPassword: Password},
		Account{User: User{ID: CaseTwinID, Username: "case_twin", Email: "PBKDF2_SHA256@example.com", Password: hashes[0].encoded,
			IsActive: true, DateJoined: Joined}, Algorithm: hashes[0].algorithm, PlainPassword: Password},
		Account{User: User{ID: UnusableID, Username: "unusable_user", Email: "unusable@example.com",
			Password: "!eojQf5OpM7pprZVkOD17ppiF8sn3WCQCUTtanLmp", IsActive: true, DateJoined: Joined}},
	)
	return out
}

// TokenKey returns the DRF token key of fixture account id: 40 lower-case
// hex characters, like rest_framework.authtoken's.
func TokenKey(id int64) string { return GeneratedToken(id + 7919) }

// InsertAccounts adds the standard fixture.
func (d *Database) InsertAccounts(t TB) []Account {
	t.Helper()
	acc := Accounts()
	for _, a := range acc {
		d.Insert(t, a.User)
	}
	return acc
}
