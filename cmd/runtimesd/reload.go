package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// reloadable are the config keys SIGHUP applies without a restart (a key ending in "." covers
// everything under it). Every other change is named in a log line and left as it was.
var reloadable = []string{
	"log.level",
	"sync.schedule", "sync.jitter", "sync.run_timeout", "sync.hold_repeats", "sync.drop_ratio",
	"fallback.", "health.", "validation.",
	"policy.", // issue 18: rules and enforce_dropin (policy.go)
}

func isReloadable(path string) bool {
	for _, k := range reloadable {
		if path == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(path, k)) {
			return true
		}
	}
	return false
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
	logger    *slog.Logger
	policy    *policy.Holder // issue 18; nil: no policy to reload
}

// reload reads, validates and applies the config file. An invalid file is rejected with the
// reason and the running config stays.
func (r *reloader) reload() {
	if r.path == "" {
		r.logger.Warn("config reload: SIGHUP received, but the daemon was started without --config: nothing to re-read")
		return
	}
	next, err := loadChecked(r.path, r.getenv, r.overrides)
	if err != nil {
		r.logger.Error("config reload rejected; the running config stays", "file", r.path, "error", err.Error())
		return
	}
	changed := diffPaths(reflect.ValueOf(r.cur), reflect.ValueOf(next), "")
	var apply, restart []string
	for _, p := range changed {
		if isReloadable(p) {
			apply = append(apply, p)
		} else {
			restart = append(restart, p)
		}
	}
	validator, err := store.NewValidator(next.Validation.ModelPatterns)
	if err == nil {
		var cls *health.Classifier
		if cls, err = health.NewClassifier(next.Health.StatusMap); err == nil {
			err = r.poller.Reload(rsync.Tunables{Schedule: next.Sync.Schedule, Jitter: next.Sync.Jitter.D(),
				RunTimeout: next.Sync.RunTimeout.D(), HoldRepeats: next.Sync.HoldRepeats, DropRatio: next.Sync.DropRatio})
			if err == nil {
				r.api.Reload(httpapi.Reloadable{Validator: validator, Classifier: cls, Fallback: next.Fallback.Rules(),
					MaxStale: next.Health.MaxStale.D(), ValidateMode: next.Validation.Mode})
			}
		}
	}
	if err == nil {
		err = r.reloadPolicy(next) // issue 18 (policy.go)
	}
	if err != nil {
		r.logger.Error("config reload rejected; the running config stays", "file", r.path, "error", err.Error())
		return
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(next.Log.Level))
	r.level.Set(lvl)

	// Keep the running values of the keys that need a restart.
	applied := r.cur
	applied.Log.Level = next.Log.Level
	applied.Sync.Schedule, applied.Sync.Jitter, applied.Sync.RunTimeout = next.Sync.Schedule, next.Sync.Jitter, next.Sync.RunTimeout
	applied.Sync.HoldRepeats, applied.Sync.DropRatio = next.Sync.HoldRepeats, next.Sync.DropRatio
	applied.Fallback, applied.Health, applied.Validation = next.Fallback, next.Health, next.Validation
	applied.Policy = next.Policy
	r.cur = applied

	if len(apply) == 0 {
		apply = []string{}
	}
	r.logger.Info("config reloaded", "file", r.path, "changed", apply)
	if len(restart) > 0 {
		r.logger.Warn("config reload: these settings need a restart and were left as they were", "keys", restart)
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
