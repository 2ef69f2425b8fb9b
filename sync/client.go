// Package sync keeps the local store in step with the control plane: the control-plane
// client, one sync run, the cron schedule and the circuit breakers on upstream calls.
//
// sync imports store and health of this project, never httpapi. The folder shadows the
// standard library's sync package, which is imported here as stdsync.
package sync

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/runtimesd/runtimesd/health"
)

// Upstream is what a sync run needs of the control plane.
type Upstream interface {
	// ListRuntimes returns the raw runtime objects of GET /api/v1/runtimes, in order.
	ListRuntimes(ctx context.Context) ([]json.RawMessage, error)
	// GetRequirements returns the raw object of GET /api/v1/runtimes/{id}/requirements, or
	// ErrNoRequirements when upstream answers 404.
	GetRequirements(ctx context.Context, id string) (json.RawMessage, error)
}

var _ Upstream = (*Client)(nil)

// ErrNoRequirements means the control plane has no requirements for a runtime (its 404).
var ErrNoRequirements = errors.New("runtime not found or has no requirements")

// ErrorKind classifies an upstream failure.
type ErrorKind string

// The kinds of upstream failure. Credentials and Client are the caller's problem and do not
// count against the circuit breaker; the others are upstream's.
const (
	KindCredentials ErrorKind = "credentials" // 401, 403
	KindClient      ErrorKind = "client"      // other 4xx except 429
	KindRateLimited ErrorKind = "rate_limited"
	KindServer      ErrorKind = "server" // 5xx
	KindTimeout     ErrorKind = "timeout"
	KindNetwork     ErrorKind = "network"
	KindBadResponse ErrorKind = "bad_response" // malformed, truncated, wrong shape
	KindTooLarge    ErrorKind = "too_large"    // beyond MaxResponseBytes: not retried
	KindBreakerOpen ErrorKind = "breaker_open"
	KindCanceled    ErrorKind = "canceled"
)

// Error is a failed upstream call: which call, what kind of failure, and the evidence.
type Error struct {
	Call   string // e.g. "GET /api/v1/runtimes"
	Kind   ErrorKind
	Status int    // HTTP status, 0 when none was received
	Body   string // excerpt of the response body
	// RetryAfter is the wait the control plane asked for (429/503), capped at
	// ClientOptions.MaxRetryAfter; 0 when none.
	RetryAfter time.Duration
	// RetryAfterHeader is the Retry-After value as sent (bounded), for the reason shown.
	RetryAfterHeader string
	// RetryAfterCapped says the control plane asked for more than MaxRetryAfter.
	RetryAfterCapped bool
	Err              error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Call)
	b.WriteString(": ")
	switch e.Kind {
	case KindCredentials:
		fmt.Fprintf(&b, "credentials rejected (HTTP %d): check KUBIYA_API_KEY or the api_key_file", e.Status)
	case KindTimeout:
		fmt.Fprintf(&b, "timed out: %v", e.Err)
	case KindBreakerOpen:
		b.WriteString("not called: circuit breaker open after repeated failures")
	case KindCanceled:
		b.WriteString("canceled")
	default:
		if e.Status != 0 {
			fmt.Fprintf(&b, "HTTP %d", e.Status)
			if e.Err != nil {
				fmt.Fprintf(&b, ": %v", e.Err)
			}
		} else if e.Err != nil {
			b.WriteString(e.Err.Error())
		}
	}
	if e.Body != "" {
		fmt.Fprintf(&b, " (body: %q)", e.Body)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// countsAgainstUpstream reports whether err is the control plane's fault (trips breakers).
func countsAgainstUpstream(err error) bool {
	var ue *Error
	if !errors.As(err, &ue) {
		return err != nil
	}
	switch ue.Kind {
	case KindCredentials, KindClient, KindCanceled:
		return false
	}
	return true
}

// ClientOptions configure a Client. Zero values take the defaults.
type ClientOptions struct {
	BaseURL string
	// APIKey is sent as a Bearer token. It is never logged.
	APIKey string
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
	// MaxResponseBytes caps each response body (default 16 MiB).
	MaxResponseBytes int64
	// BreakerFailures is the consecutive failures that open a breaker (default: health's).
	BreakerFailures uint32
	// BreakerOpenTimeout is how long a breaker stays open before a probe (default: health's).
	BreakerOpenTimeout time.Duration
	// Breakers, when set, are the circuit breakers of the call kinds (CallKinds); otherwise
	// the client makes in-memory ones from BreakerFailures and BreakerOpenTimeout.
	Breakers *health.Breakers
	// Retries is how many times an idempotent GET is retried after an upstream failure
	// (5xx, timeout, reset, bad answer) within one call (default 2; negative: none). Waits
	// are jittered exponential backoff from RetryBase (default 200ms) capped at RetryMax
	// (default 2s), and never outlast the caller's context.
	Retries             int
	RetryBase, RetryMax time.Duration
	// MaxRetryAfter caps the wait a 429 or 503's Retry-After can impose (default 5m): a
	// control plane asking for years must not stop syncing for years.
	MaxRetryAfter time.Duration
	// CAFile, when set, is a PEM bundle of CAs trusted for the control plane's certificate (in
	// addition to the system's).
	CAFile string
	// InsecureSkipVerify turns TLS verification off. Only for explicit configuration; the
	// caller warns.
	InsecureSkipVerify bool
	UserAgent          string
	// FollowerName, when set, is sent as X-Runtimes-Follower: the client follows a relay
	// (another runtimesd), which then adds its provenance headers and refuses a loop.
	FollowerName string
	Logger       *slog.Logger
	// OnCall, when set, is told of every HTTP exchange with the control plane: its call kind,
	// the status (0 when no answer came) and how long it took (metrics).
	OnCall func(kind string, status int, took time.Duration)
}

// Client calls the control plane's Runtimes Service. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	opts     ClientOptions
	http     *http.Client
	breakers *health.Breakers

	mu    stdsync.Mutex
	etags map[string]etagEntry // by path: the last 200 body and its ETag
	// lists counts the list answers read; an entry of etags not used by the last two is
	// dropped (listed), so the memo follows the catalog, not every id ever seen.
	lists uint64
	// toldRuntimesd: the hint that the base URL is a runtimesd was logged (once per client).
	toldRuntimesd bool
}

type etagEntry struct {
	etag string
	body []byte
	used uint64 // Client.lists when it was last sent or stored
}

// listPath is the list endpoint's path.
const listPath = "/api/v1/runtimes"

// listed is told of each list answer read (200 or 304): the entries no run since the one
// before used are dropped. A run reads the list, then the requirements of the runtimes it
// lists, so the requirements of a runtime no longer listed go after two runs.
func (c *Client) listed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lists++
	for path, e := range c.etags {
		if e.used+1 < c.lists {
			delete(c.etags, path)
		}
	}
}

// Call kinds, one circuit breaker each.
const (
	CallList         = "list"
	CallRequirements = "requirements"
	CallValidate     = "validate"
)

// CallKinds are the kinds of upstream call, in the order health reports them.
var CallKinds = []string{CallList, CallRequirements, CallValidate}

// IsSuccessful classifies an upstream error for the circuit breakers: the caller's problems
// (401, 403, other 4xx except 429) count as successes of the control plane.
func IsSuccessful(err error) bool { return !countsAgainstUpstream(err) }

// IsExcluded leaves the caller's cancellation out of the breaker's counts.
func IsExcluded(err error) bool {
	var ue *Error
	return errors.Is(err, context.Canceled) || (errors.As(err, &ue) && ue.Kind == KindCanceled)
}

// DefaultClientOptions are the values NewClient gives zero fields (the daemon's config
// documents and reuses them). The breakers it makes when Breakers is nil take
// health.DefaultBreakerOptions.
func DefaultClientOptions() ClientOptions {
	var o ClientOptions
	o.setDefaults()
	return o
}

func (o *ClientOptions) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 16 << 20
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 200 * time.Millisecond
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 5 * time.Minute
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 2 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "runtimesd"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// NewClient checks the options and returns a client.
func NewClient(opts ClientOptions) (*Client, error) {
	opts.setDefaults()
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("control plane base URL %q: want http(s)://host[:port][/path]", opts.BaseURL)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" || opts.InsecureSkipVerify {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // explicit config only
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("control plane CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("control plane CA file %s: no PEM certificate in it", opts.CAFile)
			}
			tc.RootCAs = pool
		}
		t.TLSClientConfig = tc
	}
	t.ResponseHeaderTimeout = opts.Timeout
	t.MaxIdleConnsPerHost = 8
	c := &Client{base: base, opts: opts, etags: map[string]etagEntry{}}
	c.http = &http.Client{
		Transport: t,
		// Follow redirects only on the same host: the API key must never reach another one.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("stopped after 3 redirects")
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("redirected to another host (%s); not followed, so the API key stays with %s",
					req.URL.Host, via[0].URL.Host)
			}
			return nil
		},
	}
	c.breakers = opts.Breakers
	if c.breakers == nil {
		b, err := health.NewBreakers(CallKinds, health.BreakerOptions{
			ConsecutiveFailures: opts.BreakerFailures,
			OpenTimeout:         opts.BreakerOpenTimeout,
			IsSuccessful:        IsSuccessful,
			IsExcluded:          IsExcluded,
			Logger:              opts.Logger,
		})
		if err != nil {
			return nil, err
		}
		c.breakers = b
	}
	return c, nil
}

// BreakerStates returns each call kind's breaker state: closed, half-open or open.
func (c *Client) BreakerStates() map[string]string {
	out := make(map[string]string, len(CallKinds))
	for _, k := range CallKinds {
		out[k] = c.breakers.State(k)
	}
	return out
}

// Breakers returns the client's circuit breakers.
func (c *Client) Breakers() *health.Breakers { return c.breakers }

// ListRuntimes calls GET /api/v1/runtimes and returns each element of the array verbatim.
func (c *Client) ListRuntimes(ctx context.Context) ([]json.RawMessage, error) {
	const path = "/api/v1/runtimes"
	body, h, err := c.getWithHeader(ctx, CallList, path)
	if err != nil {
		return nil, err
	}
	c.noticeRuntimesd(h)
	return c.parseList(body)
}

// parseList checks that a list answer is one JSON array and returns its elements verbatim;
// the excerpt of a bad answer is redacted like every upstream text.
func (c *Client) parseList(body []byte) ([]json.RawMessage, error) {
	const path = "/api/v1/runtimes"
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, &Error{Call: "GET " + path, Kind: KindBadResponse, Status: 200,
			Err: errors.New("expected a JSON array of runtimes"), Body: c.excerpt(body)}
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v) // for the position and wording of the error
		return nil, &Error{Call: "GET " + path, Kind: KindBadResponse, Status: 200,
			Err: fmt.Errorf("malformed JSON: %v", err), Body: c.excerpt(body)}
	}
	return splitArray(trimmed), nil
}

// splitArray returns the elements of a valid JSON array as slices of it (no copy), each
// exactly as written. Only strings and nesting need tracking: the input is known valid.
func splitArray(b []byte) []json.RawMessage {
	var items []json.RawMessage
	depth, start, inString, escaped := 0, -1, false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth == 1 {
				continue
			}
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				items = append(items, bytes.TrimSpace(b[start:i]))
				start = -1
				continue
			}
		}
		if depth >= 1 && start < 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			start = i
		}
		if depth == 0 && start >= 0 { // the closing bracket of the array
			items = append(items, bytes.TrimSpace(b[start:i]))
			start = -1
		}
	}
	return items
}

// GetRequirements calls GET /api/v1/runtimes/{id}/requirements.
func (c *Client) GetRequirements(ctx context.Context, id string) (json.RawMessage, error) {
	path := "/api/v1/runtimes/" + url.PathEscape(id) + "/requirements"
	body, err := c.get(ctx, CallRequirements, path)
	if err != nil {
		var ue *Error
		if errors.As(err, &ue) && ue.Status == http.StatusNotFound {
			return nil, ErrNoRequirements
		}
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) || trimmed[0] != '{' {
		return nil, &Error{Call: "GET " + path, Kind: KindBadResponse, Status: 200,
			Err: errors.New("expected a JSON object"), Body: c.excerpt(body)}
	}
	return trimmed, nil
}

// ValidateUpstream forwards a validate request body to POST /api/v1/runtimes/validate through
// the validate breaker. A 2xx or 4xx answer is returned as is (the control plane's verdict, or
// its 422 on the body); a 5xx, timeout or network failure is an error.
func (c *Client) ValidateUpstream(ctx context.Context, body []byte, contentType string) (int, []byte, error) {
	const path = "/api/v1/runtimes/validate"
	call := "POST " + path
	var status int
	resp, err := c.breakers.Execute(CallValidate, func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(body))
		if err != nil {
			return nil, &Error{Call: call, Kind: KindClient, Err: err}
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.opts.UserAgent)
		if c.opts.APIKey != "" {
			req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
		}
		start := time.Now()
		r, err := c.http.Do(req)
		if err != nil {
			c.observe(CallValidate, 0, start)
			return nil, c.transportError(ctx, call, err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(io.LimitReader(r.Body, c.opts.MaxResponseBytes+1))
		c.observe(CallValidate, r.StatusCode, start)
		if err != nil {
			return nil, c.transportError(ctx, call, err)
		}
		status = r.StatusCode
		switch {
		case int64(len(b)) > c.opts.MaxResponseBytes:
			return nil, &Error{Call: call, Kind: KindTooLarge, Status: status, Err: fmt.Errorf("response larger than the %d-byte cap", c.opts.MaxResponseBytes)}
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return nil, &Error{Call: call, Kind: KindCredentials, Status: status, Body: c.excerpt(b)}
		case status >= 500 || status == http.StatusTooManyRequests:
			kind := KindServer
			if status == http.StatusTooManyRequests {
				kind = KindRateLimited
			}
			return nil, &Error{Call: call, Kind: kind, Status: status, Body: c.excerpt(b), Err: errors.New(http.StatusText(status))}
		case !json.Valid(b):
			return nil, &Error{Call: call, Kind: KindBadResponse, Status: status, Body: c.excerpt(b), Err: errors.New("answer is not JSON")}
		}
		if status >= 400 { // the control plane's 4xx is passed to our caller: no key in it
			b = []byte(c.redact(string(b)))
		}
		return b, nil
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return 0, nil, &Error{Call: call, Kind: KindBreakerOpen, Err: err}
	}
	if err != nil {
		return status, nil, err
	}
	return status, resp, nil
}

// get performs a GET through the breaker of its kind, with If-None-Match when an ETag is
// known, the timeout and the size cap, retrying upstream failures with backoff.
func (c *Client) get(ctx context.Context, kind, path string) ([]byte, error) {
	body, _, err := c.getWithHeader(ctx, kind, path)
	return body, err
}

// getWithHeader is get, also returning the answer's headers (of the 200 kept with its ETag
// when the answer was a 304).
func (c *Client) getWithHeader(ctx context.Context, kind, path string) ([]byte, http.Header, error) {
	call := "GET " + path
	var prev error // the previous attempt's failure
	for attempt := 0; ; attempt++ {
		var h http.Header
		body, err := c.breakers.Execute(kind, func() ([]byte, error) {
			b, hdr, err := c.do(ctx, kind, call, path)
			h = hdr
			return b, err
		})
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			if prev != nil {
				// This call's own failures opened the breaker: they are its outcome (a failed
				// run, with the control plane's error), not a call skipped by an open breaker.
				return nil, nil, prev
			}
			return nil, nil, &Error{Call: call, Kind: KindBreakerOpen, Err: err}
		}
		prev = err
		if err == nil || attempt >= c.opts.Retries || !retryable(err) {
			return body, h, err
		}
		// Full jitter: a random wait up to base*2^attempt, capped.
		wait := rand.N(backoffCeiling(c.opts.RetryBase, c.opts.RetryMax, attempt)) + time.Millisecond
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, err
		}
	}
}

// retryable reports whether a failed GET may succeed if tried again soon: upstream-side
// failures, but not a rate limit (its Retry-After is honoured by the poller instead).
// backoffCeiling is base*2^attempt capped at most (both positive), without overflowing: a
// library caller's Retries may be large, and base<<attempt wraps to zero or below from about
// the 33rd attempt of a 1 s base (rand.N panics on that). most>>attempt is 0 from attempt 63 on.
func backoffCeiling(base, most time.Duration, attempt int) time.Duration {
	if base > most>>attempt {
		return most
	}
	return base << attempt
}

func retryable(err error) bool {
	var ue *Error
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Kind {
	case KindServer, KindTimeout, KindNetwork, KindBadResponse:
		return ue.RetryAfter == 0
	}
	return false
}

func (c *Client) observe(kind string, status int, start time.Time) {
	if c.opts.OnCall != nil {
		c.opts.OnCall(kind, status, time.Since(start))
	}
}

func (c *Client) do(ctx context.Context, kind, call, path string) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	// path is already escaped; the base URL's own path is kept as a prefix.
	u := c.base.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, &Error{Call: call, Kind: KindClient, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if c.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}
	if c.opts.FollowerName != "" {
		req.Header.Set(HeaderFollower, c.opts.FollowerName)
	}
	c.mu.Lock()
	cached, haveETag := c.etags[path]
	if haveETag {
		cached.used = c.lists
		c.etags[path] = cached
	}
	c.mu.Unlock()
	if haveETag {
		req.Header.Set("If-None-Match", cached.etag)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(kind, 0, start)
		return nil, nil, c.transportError(ctx, call, err)
	}
	defer resp.Body.Close()
	body, err := readCapped(resp, c.opts.MaxResponseBytes)
	c.observe(kind, resp.StatusCode, start)
	if err != nil {
		e := c.transportError(ctx, call, err)
		if ue, ok := e.(*Error); ok && ue.Kind == KindNetwork {
			ue.Kind, ue.Status = KindBadResponse, resp.StatusCode
			ue.Err = fmt.Errorf("body cut short after %d bytes: %v", len(body), err)
		}
		return nil, nil, e
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, nil, &Error{Call: call, Kind: KindTooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("response larger than the %d-byte cap", c.opts.MaxResponseBytes)}
	}

	switch {
	case resp.StatusCode == http.StatusNotModified && haveETag:
		if path == listPath {
			c.listed()
		}
		return cached.body, resp.Header, nil
	case resp.StatusCode == http.StatusOK:
		if etag := resp.Header.Get("ETag"); etag != "" {
			c.mu.Lock()
			c.etags[path] = etagEntry{etag: etag, body: body, used: c.lists}
			c.mu.Unlock()
		}
		if path == listPath {
			c.listed()
		}
		return body, resp.Header, nil
	}
	ue := &Error{Call: call, Status: resp.StatusCode, Body: c.excerpt(body), Err: errors.New(http.StatusText(resp.StatusCode))}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ue.Kind = KindCredentials
	case resp.StatusCode == http.StatusTooManyRequests:
		ue.Kind = KindRateLimited
	case resp.StatusCode >= 500:
		ue.Kind = KindServer
	case resp.StatusCode >= 400:
		ue.Kind = KindClient
	default: // 1xx, 3xx not followed, other 2xx: not what the contract promises
		ue.Kind = KindBadResponse
		ue.Err = fmt.Errorf("unexpected status %d", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		v := resp.Header.Get("Retry-After")
		asked := parseRetryAfter(v, time.Now())
		ue.RetryAfter, ue.RetryAfterCapped = min(asked, c.opts.MaxRetryAfter), asked > c.opts.MaxRetryAfter
		if ue.RetryAfter > 0 {
			ue.RetryAfterHeader = c.excerpt([]byte(v))
		}
	}
	return nil, resp.Header, ue
}

func (c *Client) transportError(ctx context.Context, call string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Call: call, Kind: KindCanceled, Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Call: call, Kind: KindTimeout, Err: fmt.Errorf("no complete answer within %s", c.opts.Timeout)}
	default:
		return &Error{Call: call, Kind: KindNetwork, Err: err}
	}
}

// readCapped reads a body of at most limit bytes (one more byte tells that it was longer),
// into a buffer sized from Content-Length when the server sent one.
func readCapped(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf := bytes.NewBuffer(make([]byte, 0, n+1))
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	return io.ReadAll(r)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		const most = uint64((1<<63 - 1) / time.Second) // beyond this the product overflows
		return time.Duration(min(secs, most)) * time.Second
	} else if errors.Is(err, strconv.ErrRange) {
		return 1<<63 - 1 // digits only, too many of them: "forever", capped by the caller
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// excerpt returns up to 200 bytes of a body, for error messages, with credentials scrubbed
// (see redact) before it is cut, so no prefix of a secret survives the cut either.
func (c *Client) excerpt(b []byte) string {
	const n = 200
	b = bytes.TrimSpace(b)
	if limit := n + len(c.opts.APIKey) + 256; len(b) > limit {
		b = b[:limit]
	}
	s := c.redact(strings.ToValidUTF8(string(b), ""))
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// credentialRE matches the value of an Authorization-style credential quoted in a text: a
// Bearer or UserKey scheme (any case) followed by its token.
var credentialRE = regexp.MustCompile(`(?i)\b(bearer|userkey)(\s+|%20|\+)[^\s"'<>,;\\]+`)

// redacted replaces a scrubbed credential.
const redacted = "[REDACTED]"

// redact scrubs the API key, and any Bearer or UserKey token, from a text the control plane
// sent (an error body may echo the request's Authorization header): upstream text is stored
// in sync history, logged and served by /v1/health and /v1/sync, and must never carry the key.
func (c *Client) redact(s string) string {
	if k := c.opts.APIKey; len(k) >= 4 {
		s = strings.ReplaceAll(s, k, redacted)
	}
	return credentialRE.ReplaceAllString(s, "${1} "+redacted)
}
