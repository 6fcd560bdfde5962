package usecase

import (
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
)

// The request use cases have the shapes package decorator wraps, so a
// composition can add its own concerns (metrics, tracing) around them with
// decorator.ApplyDecorators.
var (
	_ decorator.CommandHandler[RegisterInput, core.PublicUser] = (*Register)(nil)
	_ decorator.CommandHandler[VerifyInput, VerifyResult]      = (*VerifyRegistration)(nil)
	_ decorator.CommandHandler[LoginInput, LoginResult]        = (*Login)(nil)
	_ decorator.ActionHandler[ResendInput]                     = (*ResendVerification)(nil)
)
