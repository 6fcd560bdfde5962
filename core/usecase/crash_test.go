package usecase_test

import (
	"context"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// dyingMailer stands for a process that dies while sending: Send never
// returns to its caller (the test releases it at the end, after which the
// dead process's goroutine must not matter). With accept, the message was
// accepted by the provider before the death.
type dyingMailer struct {
	accept   bool
	accepted *porttest.RecordingMailer
	entered  chan struct{}
	release  chan struct{}
}

func (m *dyingMailer) Send(ctx context.Context, msg core.Message) error {
	if m.accept {
		_ = m.accepted.Send(ctx, msg)
	}
	close(m.entered)
	<-m.release
	return nil
}

// crash registers name on a process that dies inside the mailer, and
// returns the fixture of the process started after it on the same store,
// with the time moved on by after.
func crash(t *testing.T, accept bool, name string) (*fixture, *porttest.RecordingMailer) {
	t.Helper()
	dead := newFixture(t, nil)
	accepted := &porttest.RecordingMailer{}
	dying := &dyingMailer{accept: accept, accepted: accepted, entered: make(chan struct{}), release: make(chan struct{})}
	dead.sender = dying
	dead.build(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = dead.reg.Handle(context.Background(), registration(name))
	}()
	<-dying.entered
	t.Cleanup(func() {
		close(dying.release)
		<-done
	})
	// The next process: same store and clock, a working mailer.
	next := newFixture(t, nil)
	next.store, next.clock = dead.store, dead.clock
	next.build(t)
	return next, accepted
}

// eventOrder returns the types of name's pending events at at, in the order
// the relay would publish them.
func eventOrder(t *testing.T, f *fixture, at time.Time) []core.EventType {
	t.Helper()
	pending, err := f.store.PendingEvents(context.Background(), at, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []core.EventType
	for _, ev := range pending {
		out = append(out, ev.Type)
	}
	return out
}

func wantOrder(t *testing.T, got []core.EventType, want ...core.EventType) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events publishable = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events publishable = %v, want %v", got, want)
		}
	}
}

// A process that dies while its registration's e-mail is being sent loses
// neither the e-mail nor the order of the user's events, and resend works.
func TestCrashDuringTheSendLosesNoMail(t *testing.T) {
	f, _ := crash(t, false, "kim")
	start := f.clock.Now()
	u, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "kim")
	if err != nil {
		t.Fatalf("the user committed before the send is gone: %v", err)
	}
	wantOrder(t, eventOrder(t, f, start.Add(time.Second)))

	// A resend while the dead request's lease runs adds nothing: the e-mail
	// is owed and will go out.
	f.clock.Set(start.Add(10 * time.Second))
	if err := f.resendAndWait(t, "kim"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mailer.Messages()); n != 0 {
		t.Fatalf("%d e-mails within the lease, want 0", n)
	}
	// Once the lease ends the courier sends it, and releases the event.
	f.clock.Set(start.Add(f.settings.MailSendTimeout*2 + time.Second))
	f.deliver(t)
	mails := f.mailer.Messages()
	if len(mails) != 1 || mails[0].To[0] != u.Email {
		t.Fatalf("e-mails after the lease = %v, want the verification e-mail", recipients(f))
	}
	wantOrder(t, eventOrder(t, f, f.clock.Now()), core.EventUserRegistered)
	if _, err := f.verify.Handle(context.Background(), linkInput(t, mails[0])); err != nil {
		t.Fatalf("the courier's link: %v", err)
	}
	wantOrder(t, eventOrder(t, f, f.clock.Now()), core.EventUserRegistered, core.EventUserActivated)
}

// A process that dies after the provider accepted the e-mail but before it
// recorded that sends it again (at least once), and a link used meanwhile
// still publishes user_registered before user_activated.
func TestCrashAfterTheSendKeepsEventsInOrder(t *testing.T) {
	f, accepted := crash(t, true, "lee")
	start := f.clock.Now()
	first := accepted.Messages()
	if len(first) != 1 {
		t.Fatalf("%d e-mails accepted before the crash, want 1", len(first))
	}
	// The user follows the link before the registration's event was
	// released: activation releases it first.
	f.clock.Set(start.Add(20 * time.Second))
	if _, err := f.verify.Handle(context.Background(), linkInput(t, first[0])); err != nil {
		t.Fatalf("link accepted before the crash: %v", err)
	}
	wantOrder(t, eventOrder(t, f, f.clock.Now()), core.EventUserRegistered, core.EventUserActivated)
	// The courier finds the user verified: nothing more to send.
	f.clock.Set(start.Add(f.settings.MailSendTimeout*2 + time.Second))
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 0 {
		t.Fatalf("%d e-mails to a verified user, want 0", n)
	}
	u, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "lee")
	if err != nil || u.Mail.Owed() {
		t.Fatalf("user after the courier = %+v, %v; want no e-mail owed", u, err)
	}
}

// Unverified after such a crash, the user gets the e-mail again from the
// courier, and resend works normally afterwards.
func TestCrashAfterTheSendResendsAndResendWorks(t *testing.T) {
	f, _ := crash(t, true, "max")
	start := f.clock.Now()
	f.clock.Set(start.Add(f.settings.MailSendTimeout*2 + time.Second))
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 1 {
		t.Fatalf("%d e-mails from the courier, want the unrecorded one again", n)
	}
	wantOrder(t, eventOrder(t, f, f.clock.Now()), core.EventUserRegistered)
	f.clock.Set(f.clock.Now().Add(f.settings.ResendVerificationInterval + time.Second))
	if err := f.resendAndWait(t, "max@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mailer.Messages()); n != 2 {
		t.Fatalf("%d e-mails after a resend, want 2", n)
	}
}
