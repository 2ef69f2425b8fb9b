package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// Environment variables read by runtimesd (the control plane ecosystem's own names).
const (
	EnvBaseURL = "KUBIYA_CONTROL_PLANE_BASE_URL"
	EnvAPIKey  = "KUBIYA_API_KEY"
	// EnvToken is the sidecar's own local bearer token (else http.token_file).
	EnvToken = "RUNTIMESD_TOKEN"
)

// Config is runtimesd's configuration: defaults, then the YAML file, then the environment,
// then flags. Packages never see it; main copies values into each package's Options.
type Config struct {
	// Listen is "host:port" or "unix:/path/to.sock".
	Listen string `yaml:"listen"`
	// DataDir holds the bbolt file. Empty: $STATE_DIRECTORY, else $XDG_STATE_HOME/runtimesd,
	// else ~/.local/state/runtimesd.
	DataDir      string             `yaml:"data_dir"`
	Log          LogConfig          `yaml:"log"`
	ControlPlane ControlPlaneConfig `yaml:"control_plane"`
	Sync         SyncConfig         `yaml:"sync"`
	Store        StoreConfig        `yaml:"store"`
	HTTP         HTTPConfig         `yaml:"http"`
	Validation   ValidationConfig   `yaml:"validation"`
	Health       HealthConfig       `yaml:"health"`
	Fallback     FallbackConfig     `yaml:"fallback"`
	Policy       PolicyConfig       `yaml:"policy"`    // issue 18 (policy.go)
	NodeName     string             `yaml:"node_name"` // name in relay chains (fleet mode; see relay.go)

	// apiKey is read from the environment or APIKeyFile, never from YAML or flags.
	apiKey string
	// token is the local bearer token, from RUNTIMESD_TOKEN or http.token_file.
	token string
	// relayToken is the relays' local token, from RUNTIMESD_RELAY_TOKEN or relay_token_file.
	relayToken string
	// fromEnv names the environment variable that set a key (so errors blame it, not the file).
	fromEnv map[string]string
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// ControlPlaneConfig configures the upstream client.
type ControlPlaneConfig struct {
	BaseURL string `yaml:"base_url"`
	// APIKeyFile is a file holding the API key (used when KUBIYA_API_KEY is unset).
	APIKeyFile string `yaml:"api_key_file"`
	// CAFile adds CAs trusted for the control plane's certificate.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns TLS verification off (a warning says so at start).
	InsecureSkipVerify      bool          `yaml:"insecure_skip_verify"`
	Timeout                 Duration      `yaml:"timeout"`
	MaxResponseBytes        int64         `yaml:"max_response_bytes"`
	RequirementsMode        string        `yaml:"requirements_mode"`
	RequirementsConcurrency int           `yaml:"requirements_concurrency"`
	Breaker                 BreakerConfig `yaml:"breaker"`
	Retry                   RetryConfig   `yaml:"retry"`
	// MaxRetryAfter caps the wait a 429 or 503's Retry-After can impose.
	MaxRetryAfter Duration `yaml:"max_retry_after"`
	// Relays, RelayFallbackDirect, RelayTokenFile, RelayWait: fleet mode (see relay.go).
	Relays              []string `yaml:"relays"`
	RelayFallbackDirect bool     `yaml:"relay_fallback_direct"`
	RelayTokenFile      string   `yaml:"relay_token_file"`
	RelayWait           Duration `yaml:"relay_wait"`
}

// BreakerConfig configures the circuit breaker of each upstream call kind.
type BreakerConfig struct {
	ConsecutiveFailures uint32   `yaml:"consecutive_failures"`
	FailureRatio        float64  `yaml:"failure_ratio"`
	MinRequests         uint32   `yaml:"min_requests"`
	Window              Duration `yaml:"window"`
	OpenTimeout         Duration `yaml:"open_timeout"`
	HalfOpenProbes      uint32   `yaml:"half_open_probes"`
}

// RetryConfig configures retries of idempotent upstream GETs within a run.
type RetryConfig struct {
	Attempts int      `yaml:"attempts"`
	Base     Duration `yaml:"base"`
	Max      Duration `yaml:"max"`
}

// FallbackConfig configures fallback rules.
type FallbackConfig struct {
	DefaultRuntime string              `yaml:"default_runtime"`
	Conditions     []string            `yaml:"conditions"`
	Chains         map[string][]string `yaml:"chains"`
}

// Rules converts the config to health's rules.
func (f FallbackConfig) Rules() health.FallbackRules {
	r := health.FallbackRules{Chains: f.Chains, Default: f.DefaultRuntime}
	for _, c := range f.Conditions {
		r.Conditions = append(r.Conditions, health.Condition(c))
	}
	return r
}

// SyncConfig configures the poller.
type SyncConfig struct {
	Schedule    string   `yaml:"schedule"`
	Jitter      Duration `yaml:"jitter"`
	RunTimeout  Duration `yaml:"run_timeout"`
	HoldRepeats int      `yaml:"hold_repeats"`
	DropRatio   float64  `yaml:"drop_ratio"`
	History     int      `yaml:"history"`
	// GuardWindow is how far back the guard's high-water mark looks (kept in the data file).
	GuardWindow Duration `yaml:"guard_window"`
}

// StoreConfig configures the bbolt file.
type StoreConfig struct {
	LockTimeout   Duration `yaml:"lock_timeout"`
	ChangeLogSize int      `yaml:"change_log_size"`
}

// ValidationConfig configures offline validation.
type ValidationConfig struct {
	// Mode is local (answer from the cache) or upstream (forward to the control plane, and
	// answer locally when that fails).
	Mode string `yaml:"mode"`
	// ModelPatterns maps a runtime id to its model-id regexes, replacing the built-in ones
	// for that runtime.
	ModelPatterns map[string][]string `yaml:"model_patterns"`
}

// HealthConfig configures health classes and staleness.
type HealthConfig struct {
	// MaxStale is the age beyond which data is reported stale.
	MaxStale Duration `yaml:"max_stale"`
	// StatusMap maps upstream statuses to healthy, unhealthy or unknown, over the defaults.
	StatusMap map[string]string `yaml:"status_map"`
}

// HTTPConfig configures the local API.
type HTTPConfig struct {
	// TokenFile holds the local bearer token (when RUNTIMESD_TOKEN is unset).
	TokenFile string `yaml:"token_file"`
	// TokenReads requires the token on reads too (all routes but /healthz and /readyz).
	TokenReads bool `yaml:"token_reads"`
	// CORSOrigins are the browser origins allowed to call the API; none by default.
	CORSOrigins     []string `yaml:"cors_origins"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	DefaultWait     Duration `yaml:"default_wait"`
	MaxWait         Duration `yaml:"max_wait"`
	RefreshWait     Duration `yaml:"refresh_wait"`
	RefreshRate     float64  `yaml:"refresh_rate"`
	RefreshBurst    int      `yaml:"refresh_burst"`
	Heartbeat       Duration `yaml:"heartbeat"`
	SyncWait        Duration `yaml:"sync_wait"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout and ReadTimeout bound how long a client may take to send a request's
	// headers, and its whole request with the body.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	// WriteTimeout bounds how long a client may leave an answer unread (a stalled reader is
	// cut off); answers and streams read steadily last as long as they need.
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxConnections caps open client connections (lowered to fit the open-file limit);
	// /healthz and /readyz keep a few reserved slots beyond it.
	MaxConnections int `yaml:"max_connections"`
	// AllowedHosts are Host names served besides loopback names and the listen address.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m, or is beyond the largest (%s)", n.Line, s, time.Duration(1<<63-1).Truncate(time.Hour))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultConfig returns the built-in defaults: loopback listener, the public control plane,
// and each package's own defaults (its DefaultOptions): the config documents them and keeps
// no second copy (TestDefaultConfig_PackageDefaults checks the wiring back).
func DefaultConfig() Config {
	cl, br := rsync.DefaultClientOptions(), health.DefaultBreakerOptions()
	po, st, api := rsync.DefaultOptions(), store.DefaultOptions(), httpapi.DefaultOptions()
	return Config{
		Listen: "127.0.0.1:7878",
		Log:    LogConfig{Level: "info", Format: "text"},
		ControlPlane: ControlPlaneConfig{
			BaseURL:                 "https://control-plane.kubiya.ai",
			RelayWait:               Duration(60 * time.Second),
			Relays:                  []string{},
			Timeout:                 Duration(cl.Timeout),
			MaxResponseBytes:        cl.MaxResponseBytes,
			RequirementsMode:        string(po.RequirementsMode),
			RequirementsConcurrency: po.Concurrency,
			Breaker: BreakerConfig{ConsecutiveFailures: br.ConsecutiveFailures, FailureRatio: br.FailureRatio,
				MinRequests: br.MinRequests, Window: Duration(br.Window), OpenTimeout: Duration(br.OpenTimeout),
				HalfOpenProbes: br.HalfOpenProbes},
			Retry:         RetryConfig{Attempts: cl.Retries, Base: Duration(cl.RetryBase), Max: Duration(cl.RetryMax)},
			MaxRetryAfter: Duration(cl.MaxRetryAfter),
		},
		Sync: SyncConfig{
			Schedule:    po.Schedule,
			Jitter:      Duration(po.Jitter),
			RunTimeout:  Duration(po.RunTimeout),
			HoldRepeats: po.HoldRepeats,
			DropRatio:   po.DropRatio,
			History:     po.History,
			GuardWindow: Duration(st.HighWaterWindow),
		},
		Store:      StoreConfig{LockTimeout: Duration(st.LockTimeout), ChangeLogSize: st.ChangeLogSize},
		Validation: ValidationConfig{Mode: api.ValidateMode, ModelPatterns: map[string][]string{}},
		Fallback: FallbackConfig{DefaultRuntime: "default", Conditions: []string{"missing", "unhealthy", "lacks_feature"},
			Chains: map[string][]string{}},
		Health: HealthConfig{MaxStale: Duration(api.MaxStale), StatusMap: map[string]string{}},
		Policy: PolicyConfig{Rules: []policy.Rule{}},
		HTTP: HTTPConfig{
			CORSOrigins:       []string{},
			MaxBodyBytes:      api.MaxBodyBytes,
			DefaultWait:       Duration(api.DefaultWait),
			MaxWait:           Duration(api.MaxWait),
			RefreshWait:       Duration(api.RefreshWait),
			RefreshRate:       api.RefreshRate,
			RefreshBurst:      api.RefreshBurst,
			Heartbeat:         Duration(api.Heartbeat),
			SyncWait:          Duration(api.SyncWait),
			ShutdownTimeout:   Duration(api.ShutdownTimeout),
			ReadHeaderTimeout: Duration(api.ReadHeaderTimeout),
			ReadTimeout:       Duration(api.ReadTimeout),
			WriteTimeout:      Duration(api.WriteTimeout),
			MaxConnections:    api.MaxConnections,
			AllowedHosts:      []string{},
		},
	}
}

// ParseConfig reads YAML over the defaults. Unknown keys are errors that name the key.
func ParseConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	data, err := io.ReadAll(r)
	if err != nil {
		return cfg, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, keyedDecodeError(data, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		if err := fractionalInts(&root, reflect.TypeOf(cfg), ""); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// fractionalInts finds numbers with a fraction written for integer keys: yaml decodes
// "hold_repeats: 2.7" into 2 and "max_connections: 1.5" into 1 without a word.
func fractionalInts(n *yaml.Node, t reflect.Type, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return fractionalInts(n.Content[0], t, prefix)
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for j := range t.NumField() {
			f := t.Field(j)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != k.Value {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
				if v.Kind == yaml.ScalarNode && v.Tag == "!!float" {
					if x, err := strconv.ParseFloat(v.Value, 64); err != nil || x != math.Trunc(x) {
						errs = append(errs, fmt.Errorf("%s%s (line %d): must be an integer, got %q", prefix, k.Value, v.Line, v.Value))
					}
				}
			case reflect.Struct:
				if err := fractionalInts(v, f.Type, prefix+k.Value+"."); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

var (
	lineMsgRE    = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
	unknownKeyRE = regexp.MustCompile(`^field \S+ not found in type \S+$`)
	typeMsgRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// typeMessage turns yaml's "cannot unmarshal !!str `x` into int" into "must be an integer,
// got text "x"": the YAML tag and Go type mean nothing to an operator.
func typeMessage(msg string) string {
	m := typeMsgRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{"int": "an integer", "int64": "an integer", "uint64": "an integer", "float64": "a number",
		"bool": "true or false", "string": "a string", "[]string": "a list of strings", "time.Duration": "a duration like 30s or 5m"}[m[3]]
	if want == "" {
		switch {
		case strings.HasPrefix(m[3], "[]"):
			want = "a list"
		case strings.HasPrefix(m[3], "map["), strings.HasPrefix(m[3], "main."):
			want = "a mapping of keys"
		default:
			return msg
		}
	}
	got := map[string]string{"str": "text", "int": "the integer", "float": "the number", "bool": "the boolean",
		"seq": "a list", "map": "a mapping", "null": "null"}[m[1]]
	if got == "" {
		got = "the value"
	}
	if m[1] == "seq" || m[1] == "map" || m[1] == "null" {
		return fmt.Sprintf("must be %s, got %s", want, got)
	}
	return fmt.Sprintf("must be %s, got %s %q", want, got, m[2])
}

// walkYAMLKeys calls visit with the dotted path, key node and value node of every mapping key
// in the YAML document data, parents before children. It reports false when data is not YAML.
func walkYAMLKeys(data []byte, visit func(key string, k, v *yaml.Node)) bool {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return false
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := prefix + n.Content[i].Value
				visit(key, n.Content[i], n.Content[i+1])
				walk(n.Content[i+1], key+".")
			}
		}
	}
	walk(&root, "")
	return true
}

// keyedDecodeError rewrites YAML decoding errors to name the dotted key at each line
// ("http.bogus (line 2): unknown key") instead of yaml's Go type names.
func keyedDecodeError(data []byte, err error) error {
	keys := map[int]string{}
	if !walkYAMLKeys(data, func(key string, k, v *yaml.Node) {
		keys[k.Line] = key
		if v.Line != k.Line || v.Kind == yaml.MappingNode {
			keys[v.Line] = key
		}
	}) {
		return err // not YAML at all: yaml's own message says where
	}
	for key, n := range policyLines(data) { // keys inside policy.rules items (policy.go)
		keys[n] = key
	}
	var out []error
	for _, line := range strings.Split(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"), "\n") {
		m := lineMsgRE.FindStringSubmatch(line)
		if m == nil {
			out = append(out, errors.New(strings.TrimSpace(line)))
			continue
		}
		n, _ := strconv.Atoi(m[1])
		key, msg := keys[n], m[2]
		if unknownKeyRE.MatchString(msg) {
			msg = unknownKeyMessage(key)
		}
		msg = typeMessage(msg)
		if key == "" {
			out = append(out, fmt.Errorf("line %d: %s", n, msg))
			continue
		}
		out = append(out, fmt.Errorf("%s (line %d): %s", key, n, msg))
	}
	return errors.Join(out...)
}

// LoadConfigFile parses the file at path ("" means defaults only).
func LoadConfigFile(path string) (Config, error) {
	if path == "" {
		return DefaultConfig(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, &fileError{path: path, err: err}
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return cfg, &fileError{path: path, err: err}
	}
	return cfg, nil
}

// fileError is a config file that cannot be read or parsed; its message names the path once.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	if errors.Is(e.err, fs.ErrNotExist) || errors.Is(e.err, fs.ErrPermission) {
		return "config: " + e.err.Error() // the *PathError names the file
	}
	return "config " + e.path + ": " + e.err.Error()
}
func (e *fileError) Unwrap() error { return e.err }

// ApplyEnv applies the environment: the base URL override and the API key (from
// KUBIYA_API_KEY, else the api_key_file).
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if err := c.applyFleetEnv(getenv); err != nil {
		return err
	}
	if v := strings.TrimSpace(getenv(EnvBaseURL)); v != "" {
		c.ControlPlane.BaseURL = v
		c.setFromEnv("control_plane.base_url", EnvBaseURL)
	}
	if v := strings.TrimSpace(getenv(EnvToken)); v != "" {
		c.token = v
	} else if c.HTTP.TokenFile != "" {
		b, err := os.ReadFile(c.HTTP.TokenFile)
		if err != nil {
			return &keyFileError{fmt.Errorf("http.token_file: %w", err)}
		}
		if c.token = strings.TrimSpace(string(b)); c.token == "" {
			return &keyFileError{fmt.Errorf("http.token_file: %s is empty", c.HTTP.TokenFile)}
		}
	}
	if v := strings.TrimSpace(getenv(EnvAPIKey)); v != "" {
		c.apiKey = v
		return nil
	}
	if c.ControlPlane.APIKeyFile != "" {
		b, err := os.ReadFile(c.ControlPlane.APIKeyFile)
		if err != nil {
			return &keyFileError{fmt.Errorf("control_plane.api_key_file: %w", err)}
		}
		c.apiKey = strings.TrimSpace(string(b))
		if c.apiKey == "" {
			return &keyFileError{fmt.Errorf("control_plane.api_key_file: %s is empty", c.ControlPlane.APIKeyFile)}
		}
	}
	return nil
}

func (c *Config) setFromEnv(key, env string) {
	if c.fromEnv == nil {
		c.fromEnv = map[string]string{}
	}
	c.fromEnv[key] = env
}

// keyFileError is a problem reading the API key file.
type keyFileError struct{ err error }

func (e *keyFileError) Error() string { return e.err.Error() }
func (e *keyFileError) Unwrap() error { return e.err }

// Validate checks every field and names the one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		if env, ok := c.fromEnv[field]; ok { // the value came from the environment, not the file
			field = fmt.Sprintf("%s (set by the environment variable %s)", field, env)
		}
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.validateControlPlane(bad)
	c.validateSync(bad)
	c.validateAnswers(bad)
	c.validateHTTP(bad)
	c.validateFleet(bad)
	errs = append(errs, c.Policy.validate()...) // issue 18 (policy.go)
	return errors.Join(errs...)
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path's 108 bytes, less the
// terminating NUL).
const maxSocketPath = 107

// badFunc records one problem of a named config key.
type badFunc func(field, format string, args ...any)

// validateControlPlane checks listen, log and control_plane.
func (c *Config) validateControlPlane(bad badFunc) {
	if path, ok := strings.CutPrefix(c.Listen, "unix:"); ok {
		switch {
		case path == "":
			bad("listen", "unix: needs a socket path")
		case len(path) > maxSocketPath:
			// bind(2) says only "invalid argument" for a path beyond sun_path.
			bad("listen", "the socket path is %d bytes; unix socket paths are limited to %d: choose a shorter one", len(path), maxSocketPath)
		}
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is neither host:port nor unix:/path (%v)", c.Listen, err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		// Found here, not at listen time after the data file was opened and created.
		bad("listen", "%q: the port %q is not a TCP port (0-65535)", c.Listen, port)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if u, err := url.Parse(c.ControlPlane.BaseURL); err == nil && u.User != nil {
		// Credentials in the URL would be printed by config check and shown in logs and
		// /v1/health; the control plane takes its key as a header (KUBIYA_API_KEY).
		bad("control_plane.base_url", "%q: no user or password in the URL (the key goes in KUBIYA_API_KEY)", u.Redacted())
	} else if err == nil && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery) {
		bad("control_plane.base_url", "%q: no query or fragment (paths such as /api/v1/runtimes are appended to it)", c.ControlPlane.BaseURL)
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("control_plane.base_url", "%q: want http(s)://host[:port]", c.ControlPlane.BaseURL)
	}
	if c.ControlPlane.Timeout <= 0 {
		bad("control_plane.timeout", "must be positive")
	}
	if c.ControlPlane.MaxResponseBytes < 1024 {
		bad("control_plane.max_response_bytes", "%d is too small (at least 1024)", c.ControlPlane.MaxResponseBytes)
	}
	switch c.ControlPlane.RequirementsMode {
	case "auto", "inline", "fetch":
	default:
		bad("control_plane.requirements_mode", "%q: want auto, inline or fetch", c.ControlPlane.RequirementsMode)
	}
	if c.ControlPlane.RequirementsConcurrency < 1 || c.ControlPlane.RequirementsConcurrency > 64 {
		bad("control_plane.requirements_concurrency", "%d: want 1 to 64", c.ControlPlane.RequirementsConcurrency)
	}
	br := c.ControlPlane.Breaker
	if br.ConsecutiveFailures < 1 && br.FailureRatio == 0 {
		bad("control_plane.breaker.consecutive_failures", "must be at least 1 (or set failure_ratio)")
	}
	if br.FailureRatio < 0 || br.FailureRatio > 1 {
		bad("control_plane.breaker.failure_ratio", "%v: want 0 (off) to 1", br.FailureRatio)
	}
	if br.Window <= 0 {
		bad("control_plane.breaker.window", "must be positive")
	}
	if br.OpenTimeout <= 0 {
		bad("control_plane.breaker.open_timeout", "must be positive")
	}
	if br.HalfOpenProbes < 1 {
		bad("control_plane.breaker.half_open_probes", "must be at least 1")
	}
	if c.ControlPlane.Retry.Attempts < 0 || c.ControlPlane.Retry.Attempts > 10 {
		bad("control_plane.retry.attempts", "%d: want 0 to 10", c.ControlPlane.Retry.Attempts)
	}
	if c.ControlPlane.Retry.Base <= 0 || c.ControlPlane.Retry.Max < c.ControlPlane.Retry.Base {
		bad("control_plane.retry", "base must be positive and max at least base")
	}
}

// validateSync checks fallback, sync and store.
func (c *Config) validateSync(bad badFunc) {
	if err := c.Fallback.Rules().Validate(); err != nil {
		bad("fallback", "%v", err)
	}
	if interval, err := scheduleInterval(c.Sync.Schedule, time.Now()); err != nil {
		bad("sync.schedule", "%q: %v", c.Sync.Schedule, err)
	} else if c.Sync.Jitter >= Duration(interval) {
		bad("sync.jitter", "%s is not shorter than the schedule's interval (%s): no scheduled sync would ever run", c.Sync.Jitter.D(), interval)
	}
	if c.Sync.Jitter < 0 {
		bad("sync.jitter", "must not be negative")
	}
	if c.Sync.RunTimeout <= 0 {
		bad("sync.run_timeout", "must be positive")
	}
	if c.Sync.HoldRepeats < 1 {
		bad("sync.hold_repeats", "must be at least 1 (1 turns the guard off)")
	}
	if c.Sync.DropRatio <= 0 || c.Sync.DropRatio > 1 {
		bad("sync.drop_ratio", "%v: want a share in (0, 1]", c.Sync.DropRatio)
	}
	if c.Sync.History < 1 {
		bad("sync.history", "must be at least 1")
	}
	if c.Sync.GuardWindow <= 0 {
		bad("sync.guard_window", "must be positive")
	}
	if c.Store.LockTimeout <= 0 {
		bad("store.lock_timeout", "must be positive")
	}
	if c.Store.ChangeLogSize < 1 {
		bad("store.change_log_size", "must be at least 1")
	}
}

// validateAnswers checks what shapes answers: http bodies and origins, health, validation.
func (c *Config) validateAnswers(bad badFunc) {
	if c.HTTP.TokenReads && c.HTTP.TokenFile == "" && c.token == "" {
		bad("http.token_reads", "needs a token: set %s or http.token_file", EnvToken)
	}
	for _, o := range c.HTTP.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad("http.cors_origins", "%q: want an origin like https://example.org", o)
		} else if o != "*" && !isOrigin(o) {
			bad("http.cors_origins", "%q: an origin is scheme://host[:port] in lower case with no path, query or user (a browser sends %q), so this entry would never match", o, originOf(o))
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes", "%d is too small (at least 1024)", c.HTTP.MaxBodyBytes)
	}
	if c.Health.MaxStale <= 0 {
		bad("health.max_stale", "must be positive")
	}
	if _, err := health.NewClassifier(c.Health.StatusMap); err != nil {
		bad("health.status_map", "%v", err)
	}
	switch c.Validation.Mode {
	case "local", "upstream":
	default:
		bad("validation.mode", "%q: want local or upstream", c.Validation.Mode)
	}
	if _, err := store.NewValidator(c.Validation.ModelPatterns); err != nil {
		bad("validation.model_patterns", "%v", err)
	}
}

// validateHTTP checks the waits, timeouts and limits of the HTTP server.
func (c *Config) validateHTTP(bad badFunc) {
	switch {
	case c.HTTP.MaxWait <= 0:
		bad("http.max_wait", "must be positive")
	case c.HTTP.DefaultWait <= 0:
		bad("http.default_wait", "must be positive")
	case c.HTTP.MaxWait < c.HTTP.DefaultWait:
		bad("http.default_wait", "%s is longer than http.max_wait (%s)", c.HTTP.DefaultWait.D(), c.HTTP.MaxWait.D())
	}
	if c.HTTP.RefreshWait <= 0 {
		bad("http.refresh_wait", "must be positive")
	}
	if c.HTTP.RefreshRate <= 0 || c.HTTP.RefreshBurst < 1 {
		bad("http.refresh_rate", "refresh_rate must be positive and refresh_burst at least 1")
	}
	if c.HTTP.Heartbeat.D() < time.Second {
		bad("http.heartbeat", "must be at least 1s")
	}
	if c.HTTP.SyncWait <= 0 {
		bad("http.sync_wait", "must be positive")
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdown_timeout", "must be positive")
	}
	if c.HTTP.ReadHeaderTimeout <= 0 {
		bad("http.read_header_timeout", "must be positive")
	}
	if c.HTTP.ReadTimeout < c.HTTP.ReadHeaderTimeout {
		bad("http.read_timeout", "must be at least http.read_header_timeout")
	}
	if c.HTTP.WriteTimeout <= 0 {
		bad("http.write_timeout", "must be positive")
	}
	if c.HTTP.MaxConnections < 1 {
		bad("http.max_connections", "must be at least 1")
	}
	for _, h := range c.HTTP.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ :@") && !strings.HasPrefix(h, "[") {
			bad("http.allowed_hosts", "%q: want a host name or IP address, without scheme or port", h)
		} else if strings.Contains(h, "*") {
			bad("http.allowed_hosts", "%q: no wildcards: list each name clients use (names are compared whole)", h)
		} else if strings.ContainsFunc(h, func(r rune) bool { return r > 0x7e || r < 0x21 }) {
			bad("http.allowed_hosts", "%q: write the name as browsers send it, in ASCII (punycode, xn--...)", h)
		}
	}
	if c.ControlPlane.MaxRetryAfter <= 0 {
		bad("control_plane.max_retry_after", "must be positive")
	}
}

// scheduleInterval checks that a sync schedule fires, and returns the shortest gap between
// its next runs. It refuses what cron would accept but never (or not as written) run: an
// expression with no next time ("0 0 30 2 *"), and @every with a zero, negative or
// sub-second interval (cron silently runs those every second).
func scheduleInterval(spec string, now time.Time) (time.Duration, error) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return 0, fmt.Errorf("@every needs a duration like 30s: %v", err)
		}
		if d < time.Second || d%time.Second != 0 {
			return 0, fmt.Errorf("@every %s: the interval must be a whole number of seconds, at least 1s", d)
		}
		return d, nil
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return 0, err
	}
	first := sched.Next(now)
	if first.IsZero() {
		return 0, errors.New("never fires: no date matches it")
	}
	interval := time.Duration(1<<63 - 1)
	for prev, i := first, 0; i < 4; i++ {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		interval = min(interval, next.Sub(prev))
		prev = next
	}
	return interval, nil
}

// ResolvedDataDir is DataDir, or the default state directory when it is empty.
func (c *Config) ResolvedDataDir(getenv func(string) string) (string, error) {
	if c.DataDir != "" {
		return c.DataDir, nil
	}
	if d := getenv("STATE_DIRECTORY"); d != "" { // systemd's StateDirectory=
		return strings.Split(d, ":")[0], nil
	}
	// The XDG Base Directory spec: a relative path in these variables is invalid and ignored
	// (taken as is, the data followed the working directory of each command).
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "runtimesd"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data_dir: not set and no home directory to default to: %w", err)
	}
	return filepath.Join(home, ".local", "state", "runtimesd"), nil
}

// Redacted returns the effective configuration as YAML with the API key shown only as set
// or unset.
func (c Config) Redacted() string {
	out, _ := yaml.Marshal(c)
	state := func(secret string) string {
		if secret != "" {
			return "[redacted]"
		}
		return "(unset)"
	}
	return string(out) + "# api key (" + EnvAPIKey + " or control_plane.api_key_file): " + state(c.apiKey) + "\n" +
		"# local token (" + EnvToken + " or http.token_file): " + state(c.token) + "\n"
}

// isOrigin reports whether o is exactly what a browser sends in an Origin header: scheme and
// host (and port), lower case, nothing else. Origins are compared byte for byte, so
// "https://ops.example/" or "https://Ops.example" in http.cors_origins would never match.
func isOrigin(o string) bool {
	return o == originOf(o)
}

// originOf is the origin a browser would send for the URL o (o itself when it cannot be parsed).
func originOf(o string) string {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return o
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
