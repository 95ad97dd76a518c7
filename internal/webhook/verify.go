package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Verify checks that a delivery of forge with headers h and body was sent
// by someone who knows secret:
//
//   - GitHub: X-Hub-Signature-256 must be "sha256=" and the hex
//     HMAC-SHA256 of body keyed with secret. The SHA-1 X-Hub-Signature is
//     not accepted.
//   - GitLab: X-Gitlab-Token must equal secret.
//   - Gitea/Forgejo: X-Gitea-Signature (or X-Forgejo-Signature) must be
//     the bare hex HMAC-SHA256.
//
// Comparisons take constant time. An empty secret means verification is
// not configured: every delivery passes, signed or not. A missing or wrong
// signature wraps ErrSignature; an unknown forge wraps ErrMalformed.
func Verify(forge string, h http.Header, body []byte, secret string) error {
	switch forge {
	case GitHub, GitLab, Gitea:
	default:
		return malformed("unknown forge %q", forge)
	}
	if secret == "" {
		return nil
	}
	switch forge {
	case GitHub:
		const header = "X-Hub-Signature-256"
		sig := h.Get(header)
		if sig == "" {
			return fmt.Errorf("%w: no %s header", ErrSignature, header)
		}
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return fmt.Errorf("%w: %s does not start with sha256=", ErrSignature, header)
		}
		return checkHMAC(header, hexSig, body, secret)
	case GitLab:
		const header = "X-Gitlab-Token"
		token := h.Get(header)
		if token == "" {
			return fmt.Errorf("%w: no %s header", ErrSignature, header)
		}
		// Hashing first makes the comparison independent of the lengths too.
		a, b := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(secret))
		if !hmac.Equal(a[:], b[:]) {
			return fmt.Errorf("%w: %s does not match", ErrSignature, header)
		}
		return nil
	default: // Gitea
		header := "X-Gitea-Signature"
		sig := h.Get(header)
		if sig == "" {
			header = "X-Forgejo-Signature"
			sig = h.Get(header)
		}
		if sig == "" {
			return fmt.Errorf("%w: no X-Gitea-Signature or X-Forgejo-Signature header", ErrSignature)
		}
		return checkHMAC(header, sig, body, secret)
	}
}

// checkHMAC compares the hex signature sig from header with body's
// HMAC-SHA256 under secret.
func checkHMAC(header, sig string, body []byte, secret string) error {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrSignature, header)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body", ErrSignature, header)
	}
	return nil
}
