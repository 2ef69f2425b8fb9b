package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

// The client commands ask a running daemon (--addr), or with --offline answer from the data
// file directly through the same API code in-process, so both print the same answers.

type clientFlags struct {
	common
	addr    string
	jsonOut bool
	offline bool
	// seed lets --offline answer from the built-in seed catalog when no data file exists.
	seed bool
}

func newClientFlags(name string, stderr io.Writer, cf *clientFlags) *flag.FlagSet {
	fs := newFlags(name, stderr, &cf.common)
	fs.StringVar(&cf.addr, "addr", "", "daemon address: host:port or unix:/path (default: listen from the config, 127.0.0.1:7878)")
	fs.BoolVar(&cf.jsonOut, "json", false, "print the daemon's JSON answer")
	fs.BoolVar(&cf.offline, "offline", false, "answer from the data file (--data) without a daemon")
	fs.BoolVar(&cf.seed, "builtin-seed", false, "with --offline: answer from the built-in seed catalog when no data file exists")
	return fs
}

// apiClient asks the daemon over HTTP or, offline, the answer layer over the data file; either
// way a command gets the same typed answer (health's structs) and the same JSON.
type apiClient struct {
	http   *http.Client
	base   string
	target string // for messages
	close  func()
	token  string   // the daemon's local token, sent when set
	off    *offline // set for --offline: answers come from the answer layer, not HTTP
}

func newAPIClient(cf clientFlags, getenv func(string) string, stderr io.Writer) (*apiClient, error) {
	if cf.seed && !cf.offline {
		return nil, usageErr("--builtin-seed applies to --offline lookups (a running daemon answers from its own data): add --offline, or drop --builtin-seed")
	}
	if cf.data != "" && !cf.offline {
		return nil, usageErr("--data applies to --offline lookups (a running daemon answers from its own data directory): add --offline, or drop --data")
	}
	cfg, err := loadClientConfig(cf.common, getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, invalidConfig(cf.config, err)
	}
	if cf.offline {
		return offlineClient(cfg, getenv, stderr, cf.seed)
	}
	addr := cf.addr
	if addr == "" {
		addr = cfg.Listen
	} else if err := checkAddr(addr); err != nil {
		return nil, err
	}
	c := &apiClient{base: "http://" + addr, target: addr, close: func() {}, token: cfg.token}
	tr := &http.Transport{}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c.base = "http://runtimesd"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
	}
	c.http = &http.Client{Transport: tr, Timeout: 90 * time.Second}
	return c, nil
}

// offline is what an offline lookup answers from: the snapshot in the data file (or the
// built-in seed) and the rules of the config, through health.Answers.
type offline struct {
	snap    *store.Snapshot
	answers health.Answers
	now     time.Time
}

// offlineClient opens the data file read-only and answers from it through the answer layer;
// gate is the policy applied to the answers (nil allows everything).
func offlineClient(cfg Config, getenv func(string) string, stderr io.Writer, seedOK bool) (*apiClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir, err := cfg.ResolvedDataDir(getenv)
	if err != nil {
		return nil, err
	}
	path := dir + string(os.PathSeparator) + dbFile
	snap := &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
	closeDB := func() {}
	if err := offlineDataDir(dir, path, seedOK); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		cfg.Store.LockTimeout = Duration(300 * time.Millisecond)
		db, err := openStore(cfg, getenv, newLogger(LogConfig{Level: "error", Format: "text"}, stderr), true)
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("%s is held by a running daemon: ask it instead (drop --offline, or give --addr)", path)
		}
		if err != nil {
			return nil, err
		}
		if s := db.Loaded(); s != nil {
			snap = s
		}
		closeDB = func() { db.Close() }
	} else {
		fmt.Fprintf(stderr, "runtimesd: %s does not exist; answering from the built-in seed catalog\n", path)
	}
	validator, err := store.NewValidator(cfg.Validation.ModelPatterns)
	if err != nil {
		closeDB()
		return nil, err
	}
	classifier, err := health.NewClassifier(cfg.Health.StatusMap)
	if err != nil {
		closeDB()
		return nil, err
	}
	ans := health.Answers{Validator: validator, Classifier: classifier, MaxStale: cfg.Health.MaxStale.D()}
	// The config's policy rules apply offline as they do in the daemon (issue 18).
	holder, err := newPolicyHolder(cfg.Policy, classifier)
	if err != nil {
		closeDB()
		return nil, err
	}
	if set := holder.Current(); set.Len() > 0 {
		ans.Gate = set
	}
	return &apiClient{target: path, close: closeDB, off: &offline{snap: snap, answers: ans, now: time.Now()}}, nil
}

// offlineDataDir refuses a --data that holds no data file (a file, a typo'd or empty
// directory), so scripts do not take the built-in seed for their data, unless the seed was
// asked for with --builtin-seed.
func offlineDataDir(dir, path string, seedOK bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("--offline: data directory %s is a file, not a directory (give --data the directory holding %s)", dir, dbFile)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("--offline: data directory: %w", err)
	case err != nil && seedOK:
		return nil
	case err != nil:
		return fmt.Errorf("--offline: data directory %s does not exist (a typo?); give --builtin-seed to answer from the built-in seed catalog", dir)
	}
	switch _, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist):
		if seedOK {
			return nil
		}
		return fmt.Errorf("--offline: %s does not exist: nothing stored there yet; give --builtin-seed to answer from the built-in seed catalog", path)
	case err != nil:
		// A directory this user may not search hides the file: that is not "nothing
		// stored", and answering from the seed instead would serve the wrong data.
		return explainDataDir(path, err, true)
	}
	return nil
}

// offlineSync is the sync status of an offline lookup: there is nothing to sync from.
func offlineSync() health.SyncStatus {
	return health.SyncStatus{DisabledReason: offlineReason, LastRuns: []health.Run{}, Timeline: []health.RunPoint{}}
}

// offlineReason is why an offline lookup does not sync. `health --offline` judges the data
// file, so this reason alone does not make its exit code "degraded".
const offlineReason = "offline lookup from the data file"

// apiError is an error answer of the API.
type apiError struct {
	status int
	code   string
	msg    string
	body   []byte
}

func (e *apiError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("%s (%s)", e.msg, e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
}

// maxAnswerBytes bounds an answer the clients read into memory: far above the native list of
// 100,000 runtimes (~110 MB), so only a server that is not runtimesd (a wrong --addr) reaches
// it. A variable for the test.
var maxAnswerBytes int64 = 1 << 30

// do sends a request and returns the body of a 2xx answer, or *apiError.
func (c *apiClient) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("no daemon answers at %s: start one with `runtimesd serve`, or use --offline --data DIR", c.target)
		}
		return nil, fmt.Errorf("ask %s: %w", c.target, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > maxAnswerBytes {
		return nil, fmt.Errorf("ask %s: the answer to %s %s is over %d MiB, more than any runtimesd answer: is --addr a runtimesd?",
			c.target, method, path, maxAnswerBytes>>20)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		ae := &apiError{status: resp.StatusCode, body: out, msg: strings.TrimSpace(string(out))}
		if json.Unmarshal(out, &e) == nil && e.Error.Code != "" {
			ae.code, ae.msg = e.Error.Code, e.Error.Message
		}
		return nil, ae
	}
	return out, nil
}

// ask gets one answer: from the daemon, decoded into T, or offline from the answer layer and
// encoded as the daemon encodes it. b is the answer's JSON either way (for --json).
func ask[T any](c *apiClient, method, path string, reqBody any, what string, off func(*offline) (T, error)) (v T, b []byte, err error) {
	if c.off != nil {
		if v, err = off(c.off); err != nil {
			return v, nil, offlineErr(err)
		}
		b, err = marshalAnswer(v)
		return v, b, err
	}
	if b, err = c.do(method, path, reqBody); err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, b, fmt.Errorf("the daemon's answer is not %s: %w", what, err)
	}
	if err := hasKeys(b, reflect.TypeFor[T]()); err != nil {
		return v, b, fmt.Errorf("the daemon's answer is not %s (is %s a runtimesd?): %w", what, c.target, err)
	}
	return v, b, nil
}

// hasKeys checks that b is a JSON object that is t's answer (t a struct): an answer carrying
// provenance (it embeds health.Provenance) holds every provenance key, and any other holds at
// least one of t's keys. Typed decoding alone takes null, {} or another service's JSON for an
// empty answer: "0 runtimes" with exit 0, or "invalid" for a configuration no runtimesd saw.
func hasKeys(b []byte, t reflect.Type) error {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return errors.New("not a JSON object")
	}
	var keys, missing []string
	provenance := reflect.TypeFor[health.Provenance]()
	var walk func(t reflect.Type, required bool)
	walk = func(t reflect.Type, required bool) {
		for f := range t.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, required || f.Type == provenance)
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			keys = append(keys, name)
			_, ok := m[name]
			if required && !ok && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				missing = append(missing, name)
			}
		}
	}
	walk(t, false)
	if len(missing) > 0 {
		return fmt.Errorf("no %s", strings.Join(missing, ", "))
	}
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return nil
		}
	}
	return fmt.Errorf("none of its keys (%s)", strings.Join(keys, ", "))
}

// marshalAnswer encodes an offline answer as the daemon does (HTML characters unescaped; the
// validate report by its own encoder).
func marshalAnswer(v any) ([]byte, error) {
	if r, ok := v.(health.ValidateReport); ok {
		if b, ok := r.AppendJSON(nil); ok {
			return b, nil
		}
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// offlineErr turns an error of the answer layer into the error the daemon would answer with,
// so a command prints the same message and exits the same way offline.
func offlineErr(err error) error {
	var he *httpapi.Error
	switch {
	case errors.As(err, &he):
		return &apiError{status: he.Status, code: he.Code, msg: he.Message}
	case errors.Is(err, store.ErrUnknownRuntime):
		return &apiError{status: http.StatusNotFound, code: "runtime_not_found", msg: err.Error()}
	case errors.Is(err, health.ErrPolicyDenied):
		return &apiError{status: http.StatusForbidden, code: "policy_denied", msg: err.Error()}
	case errors.Is(err, store.ErrNoTypes):
		return &apiError{status: http.StatusBadRequest, code: "unknown_field", msg: strings.TrimPrefix(err.Error(), health.ErrBadFilter.Error()+": ")}
	case errors.Is(err, health.ErrBadFilter):
		return &apiError{status: http.StatusBadRequest, code: "bad_parameter", msg: strings.TrimPrefix(err.Error(), health.ErrBadFilter.Error()+": ")}
	case errors.Is(err, health.ErrUnknownCandidates):
		return &apiError{status: http.StatusBadRequest, code: "unknown_candidates", msg: err.Error() + " (ids are case-sensitive)"}
	case errors.Is(err, health.ErrBadSelectRequest):
		return &apiError{status: http.StatusBadRequest, code: "bad_field", msg: strings.TrimPrefix(err.Error(), health.ErrBadSelectRequest.Error()+": ")}
	}
	return err
}

// provenanceLine summarises where an answer's data came from.
func provenanceLine(p health.Provenance) string {
	s := fmt.Sprintf("revision %d, source %s, %s", p.Revision, p.Source, ageText(p, "age %ds"))
	if p.Stale {
		s += fmt.Sprintf(" (stale: %s)", p.StaleReason)
	}
	return s
}

// checkAddr refuses an --addr that is not host:port or unix:/path before it becomes a
// request URL: a pasted base URL (http://127.0.0.1:7878) was asked for as the host "http",
// a trailing slash got a 404 and a bare name a DNS lookup.
func checkAddr(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok && path != "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" || strings.ContainsAny(addr, "/?#") {
		return usageErr("--addr %q: want host:port (e.g. 127.0.0.1:7878, the daemon's listen address) or unix:/path, not a URL", addr)
	}
	return nil
}

// notObject says why a JSON document that had to be an object is not one, in JSON's words
// ("it is a JSON array"), not Go's ("cannot unmarshal array into Go value of type
// map[string]json.RawMessage"); err nil means it was null.
func notObject(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "it is null"
	case errors.As(err, &te):
		return "it is a JSON " + te.Value
	}
	return err.Error()
}

// ageText is the data's age in format; data never fetched from the control plane (the
// built-in seed, an imported plain array) has none: its age_seconds 0 means unknown, not
// fresh, as the API says by leaving the Age header out.
func ageText(p health.Provenance, format string) string {
	if p.FetchedAt == nil {
		return "never fetched"
	}
	return fmt.Sprintf(format, p.AgeSeconds)
}

func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// rawText is a JSON value as a person reads it: a string unquoted, null or absent empty,
// anything else as written.
func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// rawStrings is a JSON array's items as rawText (nothing when raw is not an array).
func rawStrings(raw json.RawMessage) []string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = rawText(it)
	}
	return out
}

// rawObject is a JSON object's members (nil when raw is not an object).
func rawObject(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdList(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var status, typ, provider, healthClass string
	var features stringList
	fs := newClientFlags("list", stderr, &cf)
	fs.StringVar(&healthClass, "health", "", "only runtimes of this health class: healthy, unhealthy or unknown")
	fs.StringVar(&status, "status", "", "only runtimes with this status")
	fs.StringVar(&typ, "type", "", "only runtimes of this type")
	fs.StringVar(&provider, "provider", "", "only runtimes supporting this model provider")
	fs.Var(&features, "feature", "only runtimes with this feature (repeatable; all must match)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"status": status, "type": typ, "provider": provider, "health": healthClass} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, f := range features {
		q.Add("feature", f)
	}
	path := "/v1/runtimes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		l, b, err := ask(c, "GET", path, nil, "a runtime list", func(o *offline) (health.RuntimeList, error) {
			f, err := o.answers.ListFilter(o.snap, store.Filter{Status: status, Type: typ, Provider: provider, Features: features}, healthClass)
			if err != nil {
				return health.RuntimeList{}, err
			}
			return o.answers.List(o.snap, o.now, f), nil
		})
		if err != nil {
			return err
		}
		if cf.jsonOut {
			return printJSON(stdout, b)
		}
		printList(stdout, l)
		return nil
	})
}

func withClient(cf clientFlags, getenv func(string) string, stderr io.Writer, fn func(*apiClient) error) error {
	c, err := newAPIClient(cf, getenv, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	return fn(c)
}

func oneID(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", usageErr("%s: give exactly one runtime ID", what)
	}
	if fs.Arg(0) == "" {
		// An empty id would ask for /v1/runtimes/, which redirects to the whole list.
		return "", usageErr("%s: the runtime ID is empty", what)
	}
	return fs.Arg(0), nil
}

// readOne is a client command that reads one runtime's answer and prints it: as JSON with
// --json, else through render.
func readOne[T any](name, what string, path func(id string) string, off func(o *offline, rt *store.Runtime) T,
	render func(id string, v T) error, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	fs := newClientFlags(name, stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := oneID(fs, name)
	if err != nil {
		return err
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		v, b, err := ask(c, "GET", path(url.PathEscape(id)), nil, what, func(o *offline) (T, error) {
			rt, err := o.answers.Lookup(o.snap, id)
			if err != nil {
				var zero T
				return zero, err
			}
			return off(o, rt), nil
		})
		if err != nil {
			return err
		}
		if cf.jsonOut {
			return printJSON(stdout, b)
		}
		return render(id, v)
	})
}

func cmdGet(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return readOne("get", "a runtime answer", func(id string) string { return "/v1/runtimes/" + id },
		func(o *offline, rt *store.Runtime) health.RuntimeAnswer {
			return health.RuntimeAnswer{Provenance: o.answers.Provenance(o.snap, o.now), Runtime: health.ViewOf(rt)}
		}, func(_ string, a health.RuntimeAnswer) error {
			if a.Runtime.ID == "" {
				return errors.New("get: the daemon's answer holds no runtime object")
			}
			printRuntime(stdout, a)
			return nil
		}, args, stdout, stderr, getenv)
}

func cmdRequirements(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return readOne("requirements", "a requirements answer", func(id string) string { return "/v1/runtimes/" + id + "/requirements" },
		func(o *offline, rt *store.Runtime) health.RequirementsAnswer {
			req := json.RawMessage(rt.RequirementsRaw)
			if req == nil {
				req = json.RawMessage("null")
			}
			return health.RequirementsAnswer{Provenance: o.answers.Provenance(o.snap, o.now), ID: rt.ID, Degraded: rt.Degraded != "", Requirements: req}
		}, func(id string, a health.RequirementsAnswer) error {
			printRequirements(stdout, id, a)
			return nil
		}, args, stdout, stderr, getenv)
}

// errInvalid makes `validate` exit 1 after printing its verdict.
var errInvalid = errors.New("the configuration is not valid")

func cmdValidate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var runtimeType, model, prompt, configJSON, file string
	var features stringList
	fs := newClientFlags("validate", stderr, &cf)
	fs.StringVar(&runtimeType, "runtime", "", "runtime type (id) to validate against")
	fs.StringVar(&model, "model", "", "model id")
	fs.StringVar(&prompt, "system-prompt", "", "system prompt")
	fs.StringVar(&configJSON, "agent-config", "", "agent config as a JSON object")
	fs.StringVar(&file, "f", "", "a JSON file holding the whole request {runtime_type, model_id, agent_config, system_prompt, features} (- for stdin)")
	fs.Var(&features, "feature", "a feature the agent needs (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The request as sent: -f FILE's keys verbatim (unknown ones come back in validated_config),
	// then the flags.
	req := map[string]json.RawMessage{}
	if file != "" {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("validate: %w", err)
		}
		if err := json.Unmarshal(data, &req); err != nil || req == nil {
			return fmt.Errorf("validate: %s is not a JSON object: %s", file, notObject(err))
		}
	}
	set := func(k, v string) {
		if v != "" {
			req[k], _ = json.Marshal(v) // a string always encodes
		}
	}
	set("runtime_type", runtimeType)
	set("model_id", model)
	set("system_prompt", prompt)
	if configJSON != "" {
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal([]byte(configJSON), &cfg); err != nil || cfg == nil {
			return usageErr("validate: --agent-config is not a JSON object: %s", notObject(err))
		}
		req["agent_config"] = json.RawMessage(configJSON)
	}
	if len(features) > 0 {
		req["features"], _ = json.Marshal([]string(features))
	}
	if _, ok := req["runtime_type"]; !ok {
		return usageErr("validate: give --runtime ID (or runtime_type in -f FILE)")
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		r, b, err := ask(c, "POST", "/v1/validate", req, "a validation report", func(o *offline) (health.ValidateReport, error) {
			body, err := json.Marshal(req)
			if err != nil {
				return health.ValidateReport{}, err
			}
			vr, err := httpapi.DecodeValidateRequest(body)
			if err != nil {
				return health.ValidateReport{}, err
			}
			return o.answers.Validate(o.snap, o.now, vr), nil
		})
		if err != nil {
			return err
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else {
			printValidate(stdout, rawText(req["runtime_type"]), r)
		}
		if !r.Valid {
			return &exitError{code: 1, err: errInvalid}
		}
		return nil
	})
}

func cmdSelect(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var req health.SelectRequest
	var features, candidates stringList
	fs := newClientFlags("select", stderr, &cf)
	fs.Var(&features, "feature", "a feature the runtime must support (repeatable)")
	fs.StringVar(&req.Provider, "provider", "", "model provider the runtime must support")
	fs.StringVar(&req.Model, "model", "", "model id the runtime must accept")
	fs.BoolVar(&req.AllowUnhealthy, "allow-unhealthy", false, "let unhealthy runtimes be chosen")
	fs.Var(&candidates, "candidate", "choose only among these ids (repeatable)")
	fs.IntVar(&req.Limit, "limit", 0, "show only the best N candidates (0: the default, 20; at most 50)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req.Features, req.Candidates = features, candidates
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		a, b, err := ask(c, "POST", "/v1/select", req, "a selection", func(o *offline) (selectAnswer, error) {
			sel, err := o.answers.Select(o.snap, req)
			return selectAnswer{Provenance: o.answers.Provenance(o.snap, o.now), Selection: sel}, err
		})
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.code == "no_runtime_matches" && c.off == nil:
			// The daemon's 404 carries the ranking: print it.
			b = ae.body
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("the daemon's answer is not a selection: %w", err)
			}
		case err != nil:
			return err
		case a.Best == nil: // offline: the answer the daemon gives with its 404
			msg := "no runtime meets the request: " + strings.Join(a.Unmet, "; ")
			ae = &apiError{status: http.StatusNotFound, code: "no_runtime_matches", msg: msg}
			var e selectRefusal
			e.Error.Code, e.Error.Message = ae.code, msg
			e.Provenance, e.Unmet, e.Candidates, e.Total = a.Provenance, a.Unmet, a.Candidates, a.Total
			if b, err = marshalAnswer(e); err != nil {
				return err
			}
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else {
			printSelect(stdout, a)
		}
		if ae != nil {
			return &exitError{code: 1, err: errors.New(ae.msg)}
		}
		return nil
	})
}

// selectAnswer is POST /v1/select's answer (also what its 404 carries).
type selectAnswer struct {
	health.Provenance
	health.Selection
}

// selectRefusal is POST /v1/select's 404 body: no runtime meets the request.
type selectRefusal struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	health.Provenance
	Unmet      []string        `json:"unmet"`
	Candidates []health.Ranked `json:"candidates"`
	Total      int             `json:"total"`
}

func cmdMatrix(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var csvOut bool
	var columns string
	fs := newClientFlags("matrix", stderr, &cf)
	fs.BoolVar(&csvOut, "csv", false, "print CSV")
	fs.StringVar(&columns, "columns", "", "the table's columns, comma-separated (id,name,type,status,health,providers,families,examples,required,recommended,max_history,system_prompt,features), or all")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	format := "table"
	switch {
	case cf.jsonOut:
		format = "json"
	case csvOut:
		format = "csv"
	}
	path := "/v1/matrix?format=" + format
	if columns != "" {
		if format != "table" {
			return usageErr("matrix: --columns chooses the table's columns; --json and --csv carry every column")
		}
		path += "&columns=" + url.QueryEscape(columns)
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		var b []byte
		var err error
		switch {
		case c.off == nil && format != "json":
			b, err = c.do("GET", path, nil)
		case format == "json":
			_, b, err = ask(c, "GET", path, nil, "a matrix", func(o *offline) (matrixAnswer, error) {
				return matrixAnswer{o.answers.Provenance(o.snap, o.now), o.answers.Matrix(o.snap)}, nil
			})
		default:
			o := c.off
			b, err = httpapi.MatrixText(o.answers.Matrix(o.snap), format, columns, o.answers.Gate != nil)
			err = offlineErr(err)
		}
		if err != nil {
			return err
		}
		if format == "json" {
			return printJSON(stdout, b)
		}
		_, err = stdout.Write(b)
		return err
	})
}

// matrixAnswer is GET /v1/matrix's JSON answer.
type matrixAnswer struct {
	health.Provenance
	Runtimes []health.MatrixRow `json:"runtimes"`
}

func cmdHealth(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	fs := newClientFlags("health", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) (err error) {
		h, b, err := ask(c, "GET", "/v1/health", nil, "a health report", func(o *offline) (health.Report, error) {
			return o.answers.Report(health.ReportInputs{Snapshot: o.snap, Now: o.now, Version: version, Sync: offlineSync()}), nil
		})
		if err != nil {
			return err
		}
		if cf.offline && h.Status == health.StatusDegraded {
			rest := slices.DeleteFunc(slices.Clone(h.Reasons), func(r string) bool { return r == "sync disabled: "+offlineReason })
			if len(rest) == 0 {
				h.Status = health.StatusOK // the data file is fine; there is simply no daemon
			}
			h.Reasons = rest
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
			return healthExit(h.Status, h.Reasons)
		}
		defer func() {
			if err == nil {
				err = healthExit(h.Status, h.Reasons)
			}
		}()
		fmt.Fprintf(stdout, "status: %s\n", h.Status)
		for _, r := range h.Reasons {
			fmt.Fprintf(stdout, "  - %s\n", r)
		}
		if s := h.Snapshot; s != nil {
			age := ageText(s.Provenance, "%ds old")
			if s.ClockSkew {
				age = "age unknown (clock skew: fetched_at is ahead of this machine's clock)"
			}
			fmt.Fprintf(stdout, "data: %d runtimes, revision %d, source %s, %s\n", s.Runtimes, s.Revision, s.Source, age)
		}
		for _, k := range []string{"list", "requirements", "validate"} {
			if br, ok := h.ControlPlane.Breakers[k]; ok {
				fmt.Fprintf(stdout, "breaker %s: %s", k, br.State)
				if br.LastError != "" {
					fmt.Fprintf(stdout, " (last error: %s)", br.LastError)
				}
				fmt.Fprintln(stdout)
			}
		}
		fmt.Fprintf(stdout, "healthy: %s\nunhealthy: %s\nunknown: %s\n", listOrNone(h.Runtimes.Healthy),
			listOrNone(h.Runtimes.Unhealthy), listOrNone(h.Runtimes.Unknown))
		for _, f := range h.Fallbacks {
			if f.Active {
				fmt.Fprintf(stdout, "fallback active: %s -> %s\n", f.Runtime, dash(f.ResolvesTo))
			}
		}
		return nil
	})
}

// Exit codes of `runtimesd health`, distinct from 1 (the daemon could not be asked) and 2 (bad
// usage) so that scripts and probes can tell them apart.
const (
	exitDegraded = 3
	exitDown     = 4
)

// healthExit turns the daemon's overall status into the exit code of `runtimesd health`.
func healthExit(status string, reasons []string) error {
	why := ""
	if len(reasons) > 0 {
		why = ": " + reasons[0]
	}
	switch status {
	case health.StatusOK:
		return nil
	case health.StatusDegraded:
		return &exitError{code: exitDegraded, err: errors.New("status degraded" + why)}
	case health.StatusDown:
		return &exitError{code: exitDown, err: errors.New("status down" + why)}
	}
	return fmt.Errorf("the daemon reports an unknown status %q", status)
}

// cmdProbe is `runtimesd probe live|ready`: for container probes where the kubelet cannot reach
// a loopback listener. Exit 0 when /healthz (live) or /readyz (ready) answers 200.
func cmdProbe(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	fs := newClientFlags("probe", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cf.offline {
		return usageErr("probe: asks a running daemon; --offline does not apply")
	}
	path := map[string]string{"live": "/healthz", "ready": "/readyz"}[fs.Arg(0)]
	if fs.NArg() != 1 || path == "" {
		return usageErr("probe: give live or ready")
	}
	c, err := newAPIClient(cf, getenv, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	c.http.Timeout = 3 * time.Second
	if _, err := c.do("GET", path, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, fs.Arg(0))
	return nil
}

// configOverrides is the body of POST /v1/runtimes/{id}/config.
type configOverrides struct {
	ModelID     *string         `json:"model_id,omitempty"`
	Features    []string        `json:"features,omitempty"`
	Environment json.RawMessage `json:"environment,omitempty"`
}

// cmdBuildConfig prints the agent configuration built from a runtime's requirements
// (POST /v1/runtimes/{id}/config) with the verdict on it; exit 1 when it is not valid.
func cmdBuildConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var model, env string
	var features stringList
	fs := newClientFlags("build-config", stderr, &cf)
	fs.StringVar(&model, "model", "", "model id (overrides the runtime's default model)")
	fs.Var(&features, "feature", "a feature (repeatable; replaces the runtime's required features)")
	fs.StringVar(&env, "environment", "", "environment as a JSON object (overrides the runtime's default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := oneID(fs, "build-config")
	if err != nil {
		return err
	}
	var body configOverrides
	if model != "" {
		body.ModelID = &model
	}
	if len(features) > 0 {
		body.Features = features
	}
	if env != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(env), &m); err != nil || m == nil {
			return usageErr("build-config: --environment is not a JSON object")
		}
		body.Environment = json.RawMessage(env)
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		a, b, err := ask(c, "POST", "/v1/runtimes/"+url.PathEscape(id)+"/config", body, "a built configuration",
			func(o *offline) (health.ConfigAnswer, error) {
				ov := store.ConfigOverrides{ModelID: body.ModelID, Features: body.Features}
				if body.Environment != nil {
					var env bytes.Buffer
					if err := json.Compact(&env, body.Environment); err != nil {
						return health.ConfigAnswer{}, err
					}
					ov.Environment = env.Bytes()
				}
				return o.answers.BuildConfig(o.snap, o.now, id, ov)
			})
		if err != nil {
			return err
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else if err := printBuiltConfig(stdout, id, a); err != nil {
			return err
		}
		if !a.Valid {
			return &exitError{code: 1, err: errInvalid}
		}
		return nil
	})
}
