package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is an in-process SMTP server for tests. It speaks enough of the protocol for
// net/smtp's client: EHLO (advertising STARTTLS and AUTH PLAIN when configured), STARTTLS,
// AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT, and it records the messages it takes.
type smtpServer struct {
	addr string
	ln   net.Listener
	tls  *tls.Config // nil: no STARTTLS
	user string      // "": no AUTH
	pass string
	wg   sync.WaitGroup

	mu    sync.Mutex
	msgs  []smtpMessage
	conns map[net.Conn]bool
}

// smtpMessage is one message the test server took.
type smtpMessage struct {
	From string
	To   []string
	Raw  string // the DATA lines as sent, CRLF and dot-stuffing included, without the final "."
	TLS  bool
	User string // who authenticated, "" if nobody
}

// startSMTP starts a test SMTP server on 127.0.0.1; tlsConfig nil means no STARTTLS, user
// "" no AUTH. The test's cleanup stops it and waits for its goroutines.
func startSMTP(t *testing.T, tlsConfig *tls.Config, user, pass string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), ln: ln, tls: tlsConfig, user: user, pass: pass, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			// Bound each conversation so a confused client cannot hang the test.
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			s.handle(c)
		}()
	}
}

func (s *smtpServer) handle(conn net.Conn) {
	tp := textproto.NewConn(conn)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	var (
		isTLS bool
		user  string
		from  string
		to    []string
	)
	if !reply("220 test.invalid ESMTP") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250-test.invalid"}
			if s.tls != nil && !isTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if s.user != "" {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250 8BITMIME")
			if !reply(lines...) {
				return
			}
		case "STARTTLS":
			if s.tls == nil || isTLS {
				reply("502 no")
				continue
			}
			if !reply("220 go ahead") {
				return
			}
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			tp = textproto.NewConn(tc)
			isTLS, user, from, to = true, "", "", nil
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if s.user == "" || !strings.EqualFold(mech, "PLAIN") {
				reply("504 unsupported")
				continue
			}
			if resp == "" {
				if !reply("334 ") {
					return
				}
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			user = parts[1]
			reply("235 2.7.0 ok")
		case "MAIL":
			if s.user != "" && user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			a, ok := cutPrefixFold(arg, "FROM:")
			f := strings.Fields(a)
			if !ok || len(f) == 0 {
				reply("501 syntax")
				continue
			}
			from, to = strings.Trim(f[0], "<>"), nil
			reply("250 ok")
		case "RCPT":
			a, ok := cutPrefixFold(arg, "TO:")
			if !ok || from == "" {
				reply("503 bad sequence")
				continue
			}
			to = append(to, strings.Trim(a, "<> "))
			reply("250 ok")
		case "DATA":
			if from == "" || len(to) == 0 {
				reply("503 bad sequence")
				continue
			}
			if !reply("354 end with .") {
				return
			}
			raw, err := readRawData(tp.R)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, smtpMessage{From: from, To: to, Raw: raw, TLS: isTLS, User: user})
			s.mu.Unlock()
			from, to = "", nil
			reply("250 queued")
		case "RSET":
			from, to = "", nil
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// cutPrefixFold is strings.CutPrefix ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// readRawData reads DATA lines up to the lone "." line and returns them as sent.
func readRawData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "slipway test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
