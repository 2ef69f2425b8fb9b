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
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
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

// apiClient sends requests to the daemon or to an in-process API over the data file.
type apiClient struct {
	http   *http.Client
	base   string
	target string // for messages
	close  func()
	token  string // the daemon's local token, sent when set
}

func newAPIClient(cf clientFlags, getenv func(string) string, stderr io.Writer) (*apiClient, error) {
	cfg, err := loadConfig(cf.common, getenv)
	if err != nil {
		return nil, err
	}
	if cf.offline {
		return offlineClient(cfg, getenv, stderr, cf.seed)
	}
	addr := cf.addr
	if addr == "" {
		addr = cfg.Listen
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

// offlineClient opens the data file read-only and serves the API in-process.
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
		return nil, err
	}
	classifier, err := health.NewClassifier(cfg.Health.StatusMap)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Options{
		Live: store.NewLive(snap), Syncer: offlineSyncer{}, Validator: validator, Classifier: classifier,
		MaxStale: cfg.Health.MaxStale.D(), Version: version,
	})
	if err != nil {
		closeDB()
		return nil, err
	}
	return &apiClient{
		http:   &http.Client{Transport: handlerTransport{api.Handler()}},
		base:   "http://offline",
		target: path,
		close:  closeDB,
	}, nil
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
	case seedOK:
		return nil
	case err != nil:
		return fmt.Errorf("--offline: data directory %s does not exist (a typo?); give --builtin-seed to answer from the built-in seed catalog", dir)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--offline: %s does not exist: nothing stored there yet; give --builtin-seed to answer from the built-in seed catalog", path)
	}
	return nil
}

// handlerTransport answers requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// offlineSyncer is the Syncer of an offline client: there is nothing to sync from.
type offlineSyncer struct{}

func (offlineSyncer) SyncNow(context.Context, string) (health.Run, error) {
	return health.Run{Outcome: health.OutcomeSkipped, Error: "offline"}, nil
}
func (offlineSyncer) Status() health.SyncStatus {
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
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
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

// provenanceLine summarises where an answer's data came from.
func provenanceLine(m map[string]any) string {
	s := fmt.Sprintf("revision %v, source %v, age %vs", m["revision"], m["source"], m["age_seconds"])
	if m["stale"] == true {
		s += fmt.Sprintf(" (stale: %v)", m["stale_reason"])
	}
	return s
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

func decodeMap(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the daemon's answer is not JSON: %w", err)
	}
	return m, nil
}

func strs(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		out = append(out, fmt.Sprint(x))
	}
	return out
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
		b, err := c.do("GET", path, nil)
		if err != nil {
			return err
		}
		if cf.jsonOut {
			return printJSON(stdout, b)
		}
		m, err := decodeMap(b)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPROVIDERS\tFEATURES\tDEGRADED")
		rts, _ := m["runtimes"].([]any) // a daemon's answer always has it; anything else lists nothing
		for _, it := range rts {
			rt, _ := it.(map[string]any)
			fmt.Fprintf(tw, "%v\t%v\t%v\t%s\t%d\t%v\n", rt["id"], dash(fmt.Sprint(rt["name"])), rt["status"],
				dash(strings.Join(strs(rt["providers"]), ",")), len(strs(rt["features"])), rt["degraded"])
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%v runtimes; %s\n", m["count"], provenanceLine(m))
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

// readOne is a client command that GETs one runtime's path and prints it: as JSON with
// --json, else through render.
func readOne(name string, path func(id string) string, render func(id string, m map[string]any) error,
	args []string, stdout, stderr io.Writer, getenv func(string) string) error {
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
		b, err := c.do("GET", path(url.PathEscape(id)), nil)
		if err != nil {
			return err
		}
		if cf.jsonOut {
			return printJSON(stdout, b)
		}
		m, err := decodeMap(b)
		if err != nil {
			return err
		}
		return render(id, m)
	})
}

func cmdGet(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return readOne("get", func(id string) string { return "/v1/runtimes/" + id }, func(_ string, m map[string]any) error {
		rt, ok := m["runtime"].(map[string]any)
		if !ok {
			return errors.New("get: the daemon's answer holds no runtime object")
		}
		raw, _ := rt["runtime"].(map[string]any)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "id:\t%v\nname:\t%v\nstatus:\t%v\ntype:\t%v\ndescription:\t%v\nproviders:\t%s\nfamilies:\t%s\n",
			rt["id"], rt["name"], rt["status"], dash(fmt.Sprint(orEmptyAny(rt["type"]))), dash(fmt.Sprint(orEmptyAny(raw["description"]))),
			dash(strings.Join(strs(rt["providers"]), ", ")), dash(strings.Join(strs(rt["families"]), ", ")))
		if rt["degraded"] == true {
			fmt.Fprintf(tw, "degraded:\t%v\n", rt["degraded_reason"])
		}
		tw.Flush()
		fmt.Fprintln(stdout, "features:")
		for _, f := range strs(rt["features"]) {
			fmt.Fprintf(stdout, "  - %s\n", f)
		}
		fmt.Fprintln(stdout, provenanceLine(m))
		return nil
	}, args, stdout, stderr, getenv)
}

func orEmptyAny(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func cmdRequirements(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return readOne("requirements", func(id string) string { return "/v1/runtimes/" + id + "/requirements" }, func(id string, m map[string]any) error {
		req, ok := m["requirements"].(map[string]any)
		if !ok {
			fmt.Fprintf(stdout, "%s has no requirements\n%s\n", id, provenanceLine(m))
			return nil
		}
		mr, _ := req["model_requirement"].(map[string]any)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "runtime:\t%s\nmodels:\t%v\nproviders:\t%s\nfamilies:\t%s\nexamples:\t%s\nrequired config:\t%s\nrecommended config:\t%s\nmax history:\t%v\nsystem prompt required:\t%v\ntools required:\t%v\n",
			id, dash(fmt.Sprint(orEmptyAny(mr["description"]))), dash(strings.Join(strs(mr["supported_providers"]), ", ")),
			dash(strings.Join(strs(mr["supported_families"]), ", ")), dash(strings.Join(strs(mr["examples"]), ", ")),
			dash(strings.Join(strs(req["required_config_fields"]), ", ")), dash(strings.Join(strs(req["recommended_config_fields"]), ", ")),
			orDash(req["max_history_length"]), req["requires_system_prompt"], req["requires_tools"])
		tw.Flush()
		if m["degraded"] == true {
			fmt.Fprintln(stdout, "degraded: the last sync could not refresh these requirements")
		}
		fmt.Fprintln(stdout, provenanceLine(m))
		return nil
	}, args, stdout, stderr, getenv)
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
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
	req := map[string]any{}
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
		if err := json.Unmarshal(data, &req); err != nil {
			return fmt.Errorf("validate: %s is not a JSON object: %v", file, err)
		}
	}
	set := func(k, v string) {
		if v != "" {
			req[k] = v
		}
	}
	set("runtime_type", runtimeType)
	set("model_id", model)
	set("system_prompt", prompt)
	if configJSON != "" {
		var cfg map[string]any
		if err := json.Unmarshal([]byte(configJSON), &cfg); err != nil {
			return usageErr("validate: --agent-config is not a JSON object: %v", err)
		}
		req["agent_config"] = cfg
	}
	if len(features) > 0 {
		req["features"] = []string(features)
	}
	if _, ok := req["runtime_type"]; !ok {
		return usageErr("validate: give --runtime ID (or runtime_type in -f FILE)")
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		b, err := c.do("POST", "/v1/validate", req)
		if err != nil {
			return err
		}
		m, err := decodeMap(b)
		if err != nil {
			return err
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else {
			verdict := "valid"
			if m["valid"] != true {
				verdict = "invalid"
			}
			fmt.Fprintf(stdout, "%s for runtime %v\n", verdict, req["runtime_type"])
			for _, e := range strs(m["errors"]) {
				fmt.Fprintf(stdout, "  error:   %s\n", e)
			}
			for _, w := range strs(m["warnings"]) {
				fmt.Fprintf(stdout, "  warning: %s\n", w)
			}
			fmt.Fprintln(stdout, provenanceLine(m))
		}
		if m["valid"] != true {
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
		b, err := c.do("POST", "/v1/select", req)
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "no_runtime_matches" {
			b = ae.body
		} else if err != nil {
			return err
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else {
			m, err := decodeMap(b)
			if err != nil {
				return err
			}
			if best, ok := m["best"].(map[string]any); ok {
				fmt.Fprintf(stdout, "best: %v (score %v)\n", best["id"], best["score"])
			} else {
				fmt.Fprintln(stdout, "no runtime meets the request:")
				for _, u := range strs(m["unmet"]) {
					fmt.Fprintf(stdout, "  - %s\n", u)
				}
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RANK\tID\tSCORE\tHEALTH\tREASON")
			cands, _ := m["candidates"].([]any)
			for _, it := range cands {
				r, _ := it.(map[string]any)
				fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\n", r["rank"], r["id"], r["score"], r["health"], r["reason"])
			}
			tw.Flush()
			fmt.Fprintln(stdout, provenanceLine(m))
		}
		if ae != nil {
			return &exitError{code: 1, err: errors.New(ae.msg)}
		}
		return nil
	})
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
		b, err := c.do("GET", path, nil)
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

func cmdHealth(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	fs := newClientFlags("health", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) (err error) {
		b, err := c.do("GET", "/v1/health", nil)
		if err != nil {
			return err
		}
		var h struct {
			Status   string   `json:"status"`
			Reasons  []string `json:"reasons"`
			Snapshot *struct {
				Revision   uint64 `json:"revision"`
				Source     string `json:"source"`
				AgeSeconds int64  `json:"age_seconds"`
				Runtimes   int    `json:"runtimes"`
				ClockSkew  bool   `json:"clock_skew"`
			} `json:"snapshot"`
			ControlPlane struct {
				Breakers map[string]health.BreakerStatus `json:"breakers"`
			} `json:"control_plane"`
			Runtimes struct {
				Healthy, Unhealthy, Unknown, Degraded []string
			} `json:"runtimes"`
			Fallbacks []health.ActiveFallback `json:"fallbacks"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("the daemon's answer is not a health report: %w", err)
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
			age := fmt.Sprintf("%ds old", s.AgeSeconds)
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
	body := map[string]any{}
	if model != "" {
		body["model_id"] = model
	}
	if len(features) > 0 {
		body["features"] = []string(features)
	}
	if env != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(env), &m); err != nil || m == nil {
			return usageErr("build-config: --environment is not a JSON object")
		}
		body["environment"] = m
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		b, err := c.do("POST", "/v1/runtimes/"+url.PathEscape(id)+"/config", body)
		if err != nil {
			return err
		}
		m, err := decodeMap(b)
		if err != nil {
			return err
		}
		if cf.jsonOut {
			if err := printJSON(stdout, b); err != nil {
				return err
			}
		} else {
			cfg, _ := json.MarshalIndent(m["config"], "", "  ")
			fmt.Fprintf(stdout, "%s\n", cfg)
			verdict := "valid"
			if m["valid"] != true {
				verdict = "invalid"
			}
			filled := strings.Join(strs(m["filled"]), ", ")
			fmt.Fprintf(stdout, "%s for runtime %s; filled from requirements: %s\n", verdict, id, dash(filled))
			for _, e := range strs(m["errors"]) {
				fmt.Fprintf(stdout, "  error:   %s\n", e)
			}
			for _, w := range strs(m["warnings"]) {
				fmt.Fprintf(stdout, "  warning: %s\n", w)
			}
			fmt.Fprintln(stdout, provenanceLine(m))
		}
		if m["valid"] != true {
			return &exitError{code: 1, err: errInvalid}
		}
		return nil
	})
}
