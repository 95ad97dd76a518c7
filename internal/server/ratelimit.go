package server

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// rateLimiter is a token bucket per key (a project, a client address, a username): each
// holds up to perMinute tokens, refilled evenly over a minute, and a call takes one. It lives
// in memory: a restart, or another replica, starts with full buckets.
type rateLimiter[K comparable] struct {
	perMinute float64
	now       func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[K]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was right
}

// maxBuckets is how many buckets are kept before full ones (of keys that were quiet for a
// minute) are forgotten.
const maxBuckets = 1024

func newRateLimiter[K comparable](perMinute int, now func() time.Time) *rateLimiter[K] {
	return &rateLimiter[K]{perMinute: float64(perMinute), now: now, buckets: map[K]*bucket{}}
}

// take takes a token of key's bucket and reports true, or reports false and how long until
// the bucket has one again.
func (l *rateLimiter[K]) take(key K) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.perMinute, at: now}
		l.buckets[key] = b
	}
	b.tokens = l.fill(b, now)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute))
}

// fill is b's tokens at now.
func (l *rateLimiter[K]) fill(b *bucket, now time.Time) float64 {
	return min(l.perMinute, b.tokens+max(0, now.Sub(b.at)).Minutes()*l.perMinute)
}

// forgetFull drops the buckets that are full again: a new one would be the same. l.mu is held.
func (l *rateLimiter[K]) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if l.fill(b, now) >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}

// refund gives back the token a call took (a sign-in that succeeded is not counted).
func (l *rateLimiter[K]) refund(key K) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = min(l.perMinute, b.tokens+1)
	}
}

// retryAfterSeconds is a wait as a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(wait time.Duration) string {
	return strconv.Itoa(int(max(1, math.Ceil(wait.Seconds()))))
}
