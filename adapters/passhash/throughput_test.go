package passhash

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestThroughput(t *testing.T) {
	for _, algorithm := range []string{"argon2id", "pbkdf2_sha256"} {
		t.Run(algorithm, func(t *testing.T) {
			rate, err := Throughput(t.Context(), cheapSettings(algorithm), 2, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if rate <= 0 {
				t.Errorf("Throughput = %v hashes/s; want a positive rate", rate)
			}
		})
	}
}

func TestThroughputRejectsBadInput(t *testing.T) {
	s := cheapSettings("argon2id")
	if _, err := Throughput(t.Context(), s, 0, time.Second); err == nil {
		t.Error("concurrency 0 accepted")
	}
	if _, err := Throughput(t.Context(), s, 1, 0); err == nil {
		t.Error("zero duration accepted")
	}
	s.PasswordHasher = "md5"
	if _, err := Throughput(t.Context(), s, 1, time.Millisecond); err == nil {
		t.Error("unknown hasher accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Throughput(ctx, cheapSettings("argon2id"), 1, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled measurement: %v; want context.Canceled", err)
	}
}
