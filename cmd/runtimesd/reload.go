package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// reloadable are the config keys SIGHUP applies without a restart (a key ending in "." covers
// everything under it). Every other change is named in a log line and left as it was.
//
// Making a key reloadable: list it here, and make sure newSettings carries it (keys under
// "health.", "validation.", "fallback." and "policy." already are; a sync key goes through
// pollerTunables). A new reloadable subsystem is one field of settings, built in newSettings
// and handed over in settings.apply; start-up builds the same value, so start and reload
// cannot drift apart.
var reloadable = []string{
	"log.level",
	"sync.schedule", "sync.jitter", "sync.run_timeout", "sync.hold_repeats", "sync.drop_ratio",
	"fallback.", "health.", "validation.",
	"policy.", // the CEL rules, policy.on_error and enforce_dropin
}

func isReloadable(path string) bool {
	for _, k := range reloadable {
		if path == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(path, k)) {
			return true
		}
	}
	return false
}

// settings is every running setting SIGHUP can change, built in one step from one config. At
// start the daemon builds its packages' options from it; at reload it is handed over whole
// (apply), the HTTP answers' part and the policy rules each swapped atomically.
type settings struct {
	Level    slog.Level
	Tunables rsync.Tunables
	API      httpapi.Reloadable // validator, classifier, fallback rules, max_stale, validation mode
	// Rules are the organisation's policy rules (issue 18), compiled when handed over.
	Rules       []policy.Rule
	RuleOptions policy.Options
}

// newSettings builds the reloadable settings of cfg; an error names the config key.
func newSettings(cfg Config) (settings, error) {
	var p settings
	_ = p.Level.UnmarshalText([]byte(cfg.Log.Level)) // Validate checked it
	p.Tunables = pollerTunables(cfg)
	validator, err := store.NewValidator(cfg.Validation.ModelPatterns)
	if err != nil {
		return p, fmt.Errorf("config: validation.model_patterns: %w", err)
	}
	classifier, err := health.NewClassifier(cfg.Health.StatusMap)
	if err != nil {
		return p, fmt.Errorf("config: health.status_map: %w", err)
	}
	p.API = httpapi.Reloadable{Validator: validator, Classifier: classifier, Fallback: cfg.Fallback.Rules(),
		MaxStale: cfg.Health.MaxStale.D(), ValidateMode: cfg.Validation.Mode, PollInterval: pollInterval(cfg.Sync.Schedule)}
	if p.API.PollInterval <= 0 {
		p.API.PollInterval = 30 * time.Second // a cron schedule: httpapi's default, as at start
	}
	p.Rules, p.RuleOptions = cfg.Policy.rules(), policyOptions(cfg.Policy, classifier)
	// Compiled once here so that apply cannot fail on them after the poller took its part.
	if _, err := policy.Compile(p.Rules, p.RuleOptions); err != nil {
		return p, fmt.Errorf("config: policy: %w", err)
	}
	return p, nil
}

// apply hands the settings to the running parts: the poller first (the one step that can still
// refuse, an invalid schedule), then the policy rules, the HTTP answers and the log level.
func (p settings) apply(poller *rsync.Poller, rules *policy.Holder, api *httpapi.Server, level *slog.LevelVar) error {
	if err := poller.Reload(p.Tunables); err != nil {
		return err
	}
	if _, err := rules.Replace(p.Rules, p.RuleOptions); err != nil {
		return fmt.Errorf("compile policy rules: %w", err)
	}
	api.Reload(p.API)
	level.Set(p.Level)
	return nil
}

// reloader re-reads the config file on SIGHUP and applies what can change while running.
type reloader struct {
	path      string
	overrides func(*Config) // flags and --dev, applied over the file as at start
	getenv    func(string) string
	cur       Config
	level     *slog.LevelVar
	poller    *rsync.Poller
	api       *httpapi.Server
	rules     *policy.Holder // the policy rules in force (issue 18)
	logger    *slog.Logger
}

// reload reads, validates and applies the config file. An invalid file is rejected with the
// reason and the running config stays.
func (r *reloader) reload() {
	if r.path == "" {
		r.logger.Warn("config reload: SIGHUP received, but the daemon was started without --config: nothing to re-read")
		return
	}
	next, err := loadChecked(r.path, r.getenv, r.overrides)
	var p settings
	if err == nil {
		p, err = newSettings(next)
	}
	if err == nil {
		err = p.apply(r.poller, r.rules, r.api, r.level)
	}
	if err != nil {
		r.logger.Error("config reload rejected; the running config stays", "file", r.path, "error", err.Error())
		return
	}
	apply, restart := []string{}, []string(nil)
	for _, k := range diffPaths(reflect.ValueOf(r.cur), reflect.ValueOf(next), "") {
		if isReloadable(k) {
			apply = append(apply, k)
		} else {
			restart = append(restart, k)
		}
	}
	restart = appendRotated(restart, r.cur, next)
	// The running config takes the reloadable keys' new values and keeps the others'.
	mergeReloadable(reflect.ValueOf(&r.cur).Elem(), reflect.ValueOf(next), "")
	r.logger.Info("config reloaded", "file", r.path, "changed", apply)
	if len(restart) > 0 {
		r.logger.Warn("config reload: these settings need a restart and were left as they were", "keys", restart)
	}
}

// appendRotated adds to restart the key files whose contents changed under an unchanged path
// (a rotated token or API key): the daemon keeps what it read at start, and diffPaths does not
// see the secrets (unexported). Only the key is named, never the secret.
func appendRotated(restart []string, cur, next Config) []string {
	for _, f := range []struct {
		key       string
		was, is   string
		path, now string
	}{
		{"http.token_file", cur.token, next.token, cur.HTTP.TokenFile, next.HTTP.TokenFile},
		{"control_plane.api_key_file", cur.apiKey, next.apiKey, cur.ControlPlane.APIKeyFile, next.ControlPlane.APIKeyFile},
		{"control_plane.relay_token_file", cur.relayToken, next.relayToken, cur.ControlPlane.RelayTokenFile, next.ControlPlane.RelayTokenFile},
	} {
		if f.was != f.is && f.path == f.now && !slices.Contains(restart, f.key) {
			restart = append(restart, f.key+" (its contents)")
		}
	}
	return restart
}

// mergeReloadable sets the reloadable leaves of cur (a settable struct) to next's values,
// walking the yaml paths as diffPaths does.
func mergeReloadable(cur, next reflect.Value, prefix string) {
	if cur.Kind() != reflect.Struct {
		if isReloadable(strings.TrimSuffix(prefix, ".")) {
			cur.Set(next)
		}
		return
	}
	t := cur.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		mergeReloadable(cur.Field(i), next.Field(i), prefix+tag+".")
	}
}

// loadChecked reads a config file, applies the environment and overrides, and validates it,
// naming the key and line of every problem.
func loadChecked(path string, getenv func(string) string, overrides func(*Config)) (Config, error) {
	cfg, err := LoadConfigFile(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	if overrides != nil {
		overrides(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		data, _ := os.ReadFile(path)
		return cfg, withLines(data, err)
	}
	return cfg, nil
}

// diffPaths lists the dotted yaml paths of the leaves that differ between a and b (maps and
// slices are leaves).
func diffPaths(a, b reflect.Value, prefix string) []string {
	if a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return []string{strings.TrimSuffix(prefix, ".")}
		}
		return nil
	}
	var out []string
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		out = append(out, diffPaths(a.Field(i), b.Field(i), prefix+tag+".")...)
	}
	return out
}

// withLines adds the line of each key named by a validation error ("sync.schedule: ...").
func withLines(data []byte, err error) error {
	lines := map[string]int{}
	if !walkYAMLKeys(data, func(key string, k, _ *yaml.Node) { lines[key] = k.Line }) {
		return err
	}
	maps.Copy(lines, policyLines(data)) // policy.rules[i].field (policy.go)
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		key, rest, ok := strings.Cut(line, ": ")
		if n, found := lines[key]; ok && found {
			line = fmt.Sprintf("%s (line %d): %s", key, n, rest)
		}
		out = append(out, errors.New(line))
	}
	return errors.Join(out...)
}
