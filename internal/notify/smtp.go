package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// Mailer sends mail over SMTP, one connection per message. Its fields are read-only once
// Send is called; Send is safe for concurrent use.
type Mailer struct {
	Addr string // host:port of the SMTP server (submission, usually port 587 or 25)
	// Username and Password log in with AUTH PLAIN when either is set. net/smtp sends them
	// only over TLS or to localhost; elsewhere Send fails without sending them.
	Username, Password string
	From               string // the sender, "addr@example.com" or "Name <addr@example.com>"
	// TLS is the client configuration for STARTTLS; nil means the system roots. An empty
	// ServerName means Addr's host name.
	TLS *tls.Config
	// StartTLS says when to upgrade the connection: "" or "opportunistic" uses STARTTLS when
	// the server offers it, "required" fails without it, "off" never uses it.
	StartTLS string
	// Timeout bounds the whole dialogue, dial to QUIT; zero means 30 s.
	Timeout time.Duration
}

// defaultMailTimeout is Mailer.Timeout's default.
const defaultMailTimeout = 30 * time.Second

// Send mails a plain-text message to the recipients (each "addr@example.com" or
// "Name <addr@example.com>"). It writes the headers (From, To, Subject, Date, Message-ID,
// MIME headers), encodes a non-ASCII subject and the body (quoted-printable, CRLF line
// endings) and rejects line breaks in addresses and the subject, so no header can be
// injected. It returns when the server has accepted the message or failed; it does not
// retry. ctx and Timeout both bound it.
func (m *Mailer) Send(ctx context.Context, to []string, subject, body string) error {
	if len(to) == 0 {
		return errors.New("send mail: no recipients")
	}
	from, err := parseAddress(m.From)
	if err != nil {
		return fmt.Errorf("send mail: sender: %w", err)
	}
	rcpts := make([]*mail.Address, len(to))
	for i, a := range to {
		if rcpts[i], err = parseAddress(a); err != nil {
			return fmt.Errorf("send mail: recipient: %w", err)
		}
	}
	if strings.ContainsAny(subject, "\r\n") {
		return errors.New("send mail: subject holds a line break")
	}
	switch m.StartTLS {
	case "", "opportunistic", "required", "off":
	default:
		return fmt.Errorf("send mail: unknown StartTLS mode %q", m.StartTLS)
	}
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("send mail: server address: %w", err)
	}
	msg, err := message(from, rcpts, subject, body, time.Now())
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}

	timeout := m.Timeout
	if timeout <= 0 {
		timeout = defaultMailTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		if cause := stopped(ctx, err); cause != nil {
			return fmt.Errorf("send mail: dial %s: %w: %w", m.Addr, cause, err)
		}
		return fmt.Errorf("send mail: dial %s: %w", m.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A canceled ctx unblocks the dialogue by expiring the connection's deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := m.dialogue(conn, host, from, rcpts, msg); err != nil {
		if cause := stopped(ctx, err); cause != nil {
			return fmt.Errorf("send mail via %s: %w: %w", m.Addr, cause, err)
		}
		return fmt.Errorf("send mail via %s: %w", m.Addr, err)
	}
	return nil
}

// stopped is why the dialogue on a connection whose deadline is ctx's failed with err when
// ctx ended it, and nil otherwise. The connection's deadline can fire just before ctx's
// timer does, so an expired deadline counts as ctx's.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return nil
}

// dialogue speaks SMTP on conn: EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT.
func (m *Mailer) dialogue(conn net.Conn, host string, from *mail.Address, rcpts []*mail.Address, msg []byte) error {
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if m.StartTLS != "off" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(m.tlsConfig(host)); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
		} else if m.StartTLS == "required" {
			return errors.New("starttls: the server does not offer it and it is required")
		}
	}
	if m.Username != "" || m.Password != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("authenticate: the server does not offer AUTH")
		}
		// PlainAuth refuses to send the password over plain text unless host is local.
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return fmt.Errorf("authenticate as %q: %w", m.Username, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("mail from %s: %w", from.Address, err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", r.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("start data: %w", err)
	}
	// The Data writer dot-stuffs lines that start with a period.
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("write data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end data: %w", err)
	}
	// The server has taken the message; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// tlsConfig is the STARTTLS configuration for host.
func (m *Mailer) tlsConfig(host string) *tls.Config {
	if m.TLS == nil {
		return &tls.Config{ServerName: host}
	}
	if m.TLS.ServerName != "" {
		return m.TLS
	}
	c := m.TLS.Clone()
	c.ServerName = host
	return c
}

// parseAddress parses one mail address, refusing line breaks outright.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("address %q holds a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("parse address %q: %w", s, err)
	}
	return a, nil
}

// message writes a whole RFC 5322 message with CRLF line endings.
func message(from *mail.Address, to []*mail.Address, subject, body string, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", from.String())
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	header("To", strings.Join(tos, ",\r\n "))
	subj := mime.QEncoding.Encode("utf-8", subject)
	if subj != subject {
		// Fold between encoded words so that long subjects keep lines short.
		subj = strings.ReplaceAll(subj, "?= =?", "?=\r\n =?")
	}
	header("Subject", subj)
	header("Date", now.Format(time.RFC1123Z))
	id, err := messageID(from.Address)
	if err != nil {
		return nil, err
	}
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	b.WriteString("\r\n")

	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// messageID makes a unique Message-ID in the sender's domain.
func messageID(from string) (string, error) {
	domain := "slipway.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("make message id: %w", err)
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}
