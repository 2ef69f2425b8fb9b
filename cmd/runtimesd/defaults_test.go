package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// valueDiffs names the plain-valued fields (numbers, strings, bools, durations) where got
// differs from want, except those in skip.
func valueDiffs(got, want any, skip ...string) []string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	var out []string
	for i := range g.NumField() {
		f := g.Type().Field(i)
		switch f.Type.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint32, reflect.Float64, reflect.String:
		default:
			continue
		}
		if strings.Contains(","+strings.Join(skip, ",")+",", ","+f.Name+",") {
			continue
		}
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			out = append(out, f.Name+": config gives "+fmtAny(g.Field(i).Interface())+", the package's default is "+fmtAny(w.Field(i).Interface()))
		}
	}
	return out
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// The defaults documented in config.example.yaml are each package's own: the example parses
// to DefaultConfig, and the options the daemon builds from it equal the packages'
// DefaultOptions field by field (a default changed in one place only fails here).
func TestDefaultConfig_PackageDefaults(t *testing.T) {
	t.Parallel()
	// TestConfigExample pins config.example.yaml = DefaultConfig(); this test pins
	// DefaultConfig() = the packages' defaults.
	cfg := DefaultConfig()
	po := pollerOptions(cfg, nil, "", nil, nil, nil)
	checks := []struct {
		name      string
		got, want any
		skip      []string
	}{
		// Not a config key: how often an unchanged run records its confirmation (a zero
		// takes the package's default).
		{"sync.Options", po, rsync.DefaultOptions(), []string{"ConfirmEvery"}},
		{"sync.Tunables", pollerTunables(cfg), rsync.Tunables{Schedule: po.Schedule, Jitter: rsync.DefaultJitter,
			RunTimeout: rsync.DefaultOptions().RunTimeout, HoldRepeats: rsync.DefaultOptions().HoldRepeats, DropRatio: rsync.DefaultOptions().DropRatio}, nil},
		// The daemon names its version in the User-Agent; the base URL has no package default.
		{"sync.ClientOptions", clientOptions(cfg), rsync.DefaultClientOptions(), []string{"UserAgent", "BaseURL"}},
		// Not config keys: the transitions kept, how often the data file is checked, the
		// probe slots and filter memo of httpapi; Version and ControlPlaneURL are the daemon's.
		{"health.BreakerOptions", breakerOptions(cfg), health.DefaultBreakerOptions(), []string{"History"}},
		{"store.Options", storeOptions(cfg), store.DefaultOptions(), []string{"FileCheckInterval"}},
		{"httpapi.Options", apiOptions(cfg, mustSettings(t, cfg)), httpapi.DefaultOptions(),
			[]string{"Version", "ControlPlaneURL", "ProbeSlots", "FilterMemoBytes"}},
	}
	for _, c := range checks {
		for _, d := range valueDiffs(c.got, c.want, c.skip...) {
			t.Errorf("%s %s", c.name, d)
		}
	}
	if got := DefaultConfig().Sync.Jitter.D(); got != rsync.DefaultJitter || got == 0 {
		t.Errorf("sync.jitter default %s, want sync's DefaultJitter %s", got, rsync.DefaultJitter)
	}
	// The checker itself: a drifted default is named.
	drift := storeOptions(cfg)
	drift.ChangeLogSize++
	if d := valueDiffs(drift, store.DefaultOptions(), "FileCheckInterval"); len(d) != 1 || !strings.HasPrefix(d[0], "ChangeLogSize") {
		t.Errorf("a drifted default was not named: %q", d)
	}
}

func mustSettings(t *testing.T, cfg Config) settings {
	t.Helper()
	p, err := newSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// After a reload the running config takes the reloadable keys' new values and keeps the
// running values of the others (they are named in the "need a restart" line instead).
func TestMergeReloadable(t *testing.T) {
	t.Parallel()
	cur, next := DefaultConfig(), DefaultConfig()
	next.Listen, next.ControlPlane.Timeout, next.HTTP.MaxConnections = "127.0.0.1:1", Duration(time.Minute), 7
	next.Log.Level, next.Sync.Jitter, next.Health.MaxStale = "debug", Duration(time.Second), Duration(time.Hour)
	next.Validation.Mode, next.Fallback.DefaultRuntime = "upstream", "other"
	mergeReloadable(reflect.ValueOf(&cur).Elem(), reflect.ValueOf(next), "")
	d := DefaultConfig()
	if cur.Listen != d.Listen || cur.ControlPlane.Timeout != d.ControlPlane.Timeout || cur.HTTP.MaxConnections != d.HTTP.MaxConnections {
		t.Errorf("restart-only keys changed: listen %s timeout %s max_connections %d", cur.Listen, cur.ControlPlane.Timeout.D(), cur.HTTP.MaxConnections)
	}
	if cur.Log.Level != "debug" || cur.Sync.Jitter != Duration(time.Second) || cur.Health.MaxStale != Duration(time.Hour) ||
		cur.Validation.Mode != "upstream" || cur.Fallback.DefaultRuntime != "other" {
		t.Errorf("reloadable keys not taken: %+v", cur)
	}
	if diff := diffPaths(reflect.ValueOf(cur), reflect.ValueOf(next), ""); strings.Join(diff, ",") != "listen,control_plane.timeout,http.max_connections" {
		t.Errorf("left different: %q", diff)
	}
}
