package core_test

import (
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

func TestDjangoSignerContract(t *testing.T) {
	porttest.Signer(t, core.NewDjangoSigner("contract-secret", []string{"older-secret"}))
}
