package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every dialogue in these tests.
const testTimeout = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestSendSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}}, "ci", "s3cret")
	m := &Mailer{
		Addr:     srv.addr,
		Username: "ci",
		Password: "s3cret",
		From:     "Slipway CI <ci@slipway.example>",
		TLS:      &tls.Config{RootCAs: pool},
		StartTLS: "required",
		Timeout:  testTimeout,
	}
	subject := "[grp/app] Pipeline #7 failed on main — Jürgen's commit"
	body := "First line\n.starts with a dot\nünïcödé line\r\nlast line"
	to := []string{"Jürgen Dœ <jurgen@example.com>", "bob@example.com"}
	if err := m.Send(testCtx(t), to, subject, body); err != nil {
		t.Fatal(err)
	}

	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("server took %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "ci" {
		t.Errorf("TLS %v, user %q; want TLS and user ci", got.TLS, got.User)
	}
	if got.From != "ci@slipway.example" || strings.Join(got.To, ",") != "jurgen@example.com,bob@example.com" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	if strings.Contains(strings.ReplaceAll(got.Raw, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(got.Raw, "\r\n", ""), "\r") {
		t.Errorf("message has bare CR or LF:\n%q", got.Raw)
	}
	if !strings.Contains(got.Raw, "\r\n..starts with a dot\r\n") {
		t.Errorf("the line starting with a dot is not dot-stuffed:\n%s", got.Raw)
	}

	// Undo the dot-stuffing, then read it as a mail client would.
	raw := strings.ReplaceAll(got.Raw, "\r\n..", "\r\n.")
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "ci@slipway.example" || from.Name != "Slipway CI" {
		t.Errorf("From %q: %v, %v", h.Get("From"), from, err)
	}
	tos, err := h.AddressList("To")
	if err != nil || len(tos) != 2 || tos[0].Name != "Jürgen Dœ" || tos[0].Address != "jurgen@example.com" || tos[1].Address != "bob@example.com" {
		t.Errorf("To %q: %v, %v", h.Get("To"), tos, err)
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("Subject %q is not Q-encoded", h.Get("Subject"))
	}
	var dec mime.WordDecoder
	if s, err := dec.DecodeHeader(h.Get("Subject")); err != nil || s != subject {
		t.Errorf("Subject decodes to %q, %v; want %q", s, err, subject)
	}
	if d, err := h.Date(); err != nil || time.Since(d).Abs() > time.Hour {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@slipway\.example>$`).MatchString(h.Get("Message-Id")) {
		t.Errorf("Message-ID %q", h.Get("Message-Id"))
	}
	for k, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if h.Get(k) != want {
			t.Errorf("%s %q, want %q", k, h.Get(k), want)
		}
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	wantBody := "First line\r\n.starts with a dot\r\nünïcödé line\r\nlast line\r\n"
	if string(b) != wantBody {
		t.Errorf("body %q, want %q", b, wantBody)
	}
}

func TestSendWrongPassword(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}}, "ci", "s3cret")
	m := &Mailer{Addr: srv.addr, Username: "ci", Password: "wrong-pass", From: "ci@slipway.example", TLS: &tls.Config{RootCAs: pool}}
	err := m.Send(testCtx(t), []string{"a@example.com"}, "s", "b")
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("the error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("error %q does not say authentication failed", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server took %d messages", n)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	srv := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}}, "", "")
	// Opportunistic STARTTLS still verifies the certificate once the server offers it.
	_, otherPool := selfSigned(t)
	m := &Mailer{Addr: srv.addr, From: "ci@slipway.example", TLS: &tls.Config{RootCAs: otherPool}}
	if err := m.Send(testCtx(t), []string{"a@example.com"}, "s", "b"); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("err %v, want a starttls error", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server took %d messages", n)
	}
}

func TestSendStartTLSRequiredWithoutIt(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, nil, "", "")
	m := &Mailer{Addr: srv.addr, From: "ci@slipway.example", StartTLS: "required"}
	err := m.Send(testCtx(t), []string{"a@example.com"}, "s", "b")
	if err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("err %v, want a starttls error", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server took %d messages", n)
	}
}

func TestSendPlain(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	tests := []struct {
		name     string
		tls      *tls.Config
		startTLS string
	}{
		{name: "opportunistic without STARTTLS", startTLS: "opportunistic"},
		{name: "default without STARTTLS"},
		{name: "off with STARTTLS offered", tls: &tls.Config{Certificates: []tls.Certificate{cert}}, startTLS: "off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.tls, "", "")
			m := &Mailer{Addr: srv.addr, From: "ci@slipway.example", StartTLS: tt.startTLS}
			if err := m.Send(testCtx(t), []string{"a@example.com"}, "hello", "body\n"); err != nil {
				t.Fatal(err)
			}
			msgs := srv.messages()
			if len(msgs) != 1 || msgs[0].TLS || msgs[0].To[0] != "a@example.com" {
				t.Fatalf("messages %+v, want one in plain text to a@example.com", msgs)
			}
			if !strings.Contains(msgs[0].Raw, "\r\nSubject: hello\r\n") {
				t.Errorf("no plain Subject header:\n%s", msgs[0].Raw)
			}
		})
	}
}

func TestSendAuthToLocalhostWithoutTLS(t *testing.T) {
	t.Parallel()
	// net/smtp allows AUTH PLAIN without TLS only to localhost; 127.0.0.1 is.
	srv := startSMTP(t, nil, "ci", "s3cret")
	m := &Mailer{Addr: srv.addr, Username: "ci", Password: "s3cret", From: "ci@slipway.example"}
	if err := m.Send(testCtx(t), []string{"a@example.com"}, "s", "b"); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.messages(); len(msgs) != 1 || msgs[0].User != "ci" {
		t.Fatalf("messages %+v, want one from user ci", msgs)
	}
}

func TestSendRejects(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, nil, "", "")
	tests := []struct {
		name          string
		from, subject string
		to            []string
		startTLS      string
	}{
		{name: "CRLF in recipient", to: []string{"a@example.com\r\nBcc: evil@example.com"}},
		{name: "LF in recipient name", to: []string{"A\n <a@example.com>"}},
		{name: "CR in sender", from: "ci@slipway.example\rBcc: evil@example.com"},
		{name: "LF in subject", subject: "hi\nBcc: evil@example.com"},
		{name: "CR in subject", subject: "hi\rthere"},
		{name: "not an address", to: []string{"nobody"}},
		{name: "no recipients", to: []string{}},
		{name: "unknown StartTLS", startTLS: "sometimes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from, subject, to := "ci@slipway.example", "s", []string{"a@example.com"}
			if tt.from != "" {
				from = tt.from
			}
			if tt.subject != "" {
				subject = tt.subject
			}
			if tt.to != nil {
				to = tt.to
			}
			m := &Mailer{Addr: srv.addr, From: from, StartTLS: tt.startTLS}
			if err := m.Send(testCtx(t), to, subject, "b"); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server took %d messages", n)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	m := &Mailer{Addr: addr, From: "ci@slipway.example", Timeout: 100 * time.Millisecond}
	start := time.Now()
	err := m.Send(testCtx(t), []string{"a@example.com"}, "s", "b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v", d)
	}
}

func TestSendCanceled(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	m := &Mailer{Addr: addr, From: "ci@slipway.example"}
	cause := errors.New("server stopping")
	ctx, cancel := context.WithCancelCause(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- m.Send(ctx, []string{"a@example.com"}, "s", "b") }()
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("err %v, want the cancel's cause", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Send did not return after cancel")
	}
}
