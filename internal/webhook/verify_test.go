package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := hexHMAC(testSecret, body)
	wrong := hexHMAC("guess", body)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		forge  string
		h      http.Header
		secret string
		want   error
	}{
		{"github right", GitHub, hdr("X-Hub-Signature-256", "sha256="+good), testSecret, nil},
		{"github right, upper-case hex", GitHub, hdr("X-Hub-Signature-256", "sha256="+strings.ToUpper(good)), testSecret, nil},
		{"github wrong", GitHub, hdr("X-Hub-Signature-256", "sha256="+wrong), testSecret, ErrSignature},
		{"github missing", GitHub, hdr(), testSecret, ErrSignature},
		{"github only SHA-1 header", GitHub, hdr("X-Hub-Signature", "sha1=0123"), testSecret, ErrSignature},
		{"github no prefix", GitHub, hdr("X-Hub-Signature-256", good), testSecret, ErrSignature},
		{"github sha1 prefix", GitHub, hdr("X-Hub-Signature-256", "sha1="+good), testSecret, ErrSignature},
		{"github not hex", GitHub, hdr("X-Hub-Signature-256", "sha256=zz"+good[2:]), testSecret, ErrSignature},
		{"github truncated", GitHub, hdr("X-Hub-Signature-256", "sha256="+good[:40]), testSecret, ErrSignature},
		{"github empty secret, unsigned", GitHub, hdr(), "", nil},
		{"github empty secret, signed", GitHub, hdr("X-Hub-Signature-256", "sha256="+wrong), "", nil},

		{"gitlab right", GitLab, hdr("X-Gitlab-Token", testSecret), testSecret, nil},
		{"gitlab wrong", GitLab, hdr("X-Gitlab-Token", "guess"), testSecret, ErrSignature},
		{"gitlab prefix of secret", GitLab, hdr("X-Gitlab-Token", testSecret[:5]), testSecret, ErrSignature},
		{"gitlab missing", GitLab, hdr(), testSecret, ErrSignature},
		{"gitlab HMAC instead of token", GitLab, hdr("X-Gitlab-Token", good), testSecret, ErrSignature},
		{"gitlab empty secret", GitLab, hdr(), "", nil},

		{"gitea right", Gitea, hdr("X-Gitea-Signature", good), testSecret, nil},
		{"forgejo right", Gitea, hdr("X-Forgejo-Signature", good), testSecret, nil},
		{"gitea wrong", Gitea, hdr("X-Gitea-Signature", wrong), testSecret, ErrSignature},
		{"gitea missing", Gitea, hdr(), testSecret, ErrSignature},
		{"gitea GitHub prefix", Gitea, hdr("X-Gitea-Signature", "sha256="+good), testSecret, ErrSignature},
		{"gitea GitHub header only", Gitea, hdr("X-Hub-Signature-256", "sha256="+good), testSecret, ErrSignature},
		{"gitea empty secret", Gitea, hdr(), "", nil},

		{"unknown forge", "gogs", hdr(), "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tc.forge, tc.h, body, tc.secret)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyBodyChange checks that the signature covers the whole body.
func TestVerifyBodyChange(t *testing.T) {
	t.Parallel()
	body := []byte(`{"ref":"refs/heads/main"}`)
	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256="+hexHMAC(testSecret, body))
	if err := Verify(GitHub, h, append(body, ' '), testSecret); !errors.Is(err, ErrSignature) {
		t.Fatalf("appended byte: %v", err)
	}
}
