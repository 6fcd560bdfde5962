// Package rsstest holds the bounded-resources test: it builds the restreg
// binary, runs it with the default argon2id cost and HASH_CONCURRENCY=2,
// sends 1,000 registrations at once and checks that every answer is a 201
// or a prompt 503 with Retry-After while the peak RSS stays under 256 MB.
package rsstest
