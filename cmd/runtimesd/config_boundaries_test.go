package main

import (
	"strings"
	"testing"
)

// Every bounded config value at its limit and one step past it: the limit is accepted, the
// step past is rejected with an error naming the field.
func TestConfigValidate_Boundaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		yaml  string
		field string
		ok    bool
	}{
		{"control_plane: {max_response_bytes: 1024}", "control_plane.max_response_bytes", true},
		{"control_plane: {max_response_bytes: 1023}", "control_plane.max_response_bytes", false},
		{"control_plane: {requirements_concurrency: 1}", "control_plane.requirements_concurrency", true},
		{"control_plane: {requirements_concurrency: 0}", "control_plane.requirements_concurrency", false},
		{"control_plane: {requirements_concurrency: 64}", "control_plane.requirements_concurrency", true},
		{"control_plane: {requirements_concurrency: 65}", "control_plane.requirements_concurrency", false},
		{"control_plane: {breaker: {consecutive_failures: 1}}", "control_plane.breaker.consecutive_failures", true},
		{"control_plane: {breaker: {consecutive_failures: 0}}", "control_plane.breaker.consecutive_failures", false},
		{"control_plane: {breaker: {consecutive_failures: 0, failure_ratio: 0.5}}", "control_plane.breaker.consecutive_failures", true},
		{"control_plane: {breaker: {failure_ratio: 1}}", "control_plane.breaker.failure_ratio", true},
		{"control_plane: {breaker: {failure_ratio: 1.01}}", "control_plane.breaker.failure_ratio", false},
		{"control_plane: {breaker: {failure_ratio: -0.01}}", "control_plane.breaker.failure_ratio", false},
		{"control_plane: {breaker: {half_open_probes: 1}}", "control_plane.breaker.half_open_probes", true},
		{"control_plane: {breaker: {half_open_probes: 0}}", "control_plane.breaker.half_open_probes", false},
		{"control_plane: {retry: {attempts: 0}}", "control_plane.retry.attempts", true},
		{"control_plane: {retry: {attempts: 10}}", "control_plane.retry.attempts", true},
		{"control_plane: {retry: {attempts: 11}}", "control_plane.retry.attempts", false},
		{"control_plane: {retry: {attempts: -1}}", "control_plane.retry.attempts", false},
		{"control_plane: {retry: {base: 1s, max: 1s}}", "control_plane.retry", true},
		{"control_plane: {retry: {base: 1s, max: 999ms}}", "control_plane.retry", false},
		{"sync: {jitter: 0s}", "sync.jitter", true},
		{"sync: {jitter: -1ns}", "sync.jitter", false},
		{"sync: {hold_repeats: 1}", "sync.hold_repeats", true},
		{"sync: {drop_ratio: 1}", "sync.drop_ratio", true},
		{"sync: {drop_ratio: 1.01}", "sync.drop_ratio", false},
		{"sync: {drop_ratio: 0}", "sync.drop_ratio", false},
		{"sync: {history: 1}", "sync.history", true},
		{"sync: {history: 0}", "sync.history", false},
		{"store: {change_log_size: 1}", "store.change_log_size", true},
		{"store: {change_log_size: 0}", "store.change_log_size", false},
		{"http: {max_body_bytes: 1024}", "http.max_body_bytes", true},
		{"http: {max_body_bytes: 1023}", "http.max_body_bytes", false},
		{"http: {default_wait: 10m, max_wait: 10m}", "http.default_wait", true},
		{"http: {default_wait: 10m, max_wait: 9m}", "http.default_wait", false},
	}
	for _, tc := range cases {
		cfg, err := ParseConfig(strings.NewReader(tc.yaml + "\n"))
		if err != nil {
			t.Errorf("%s: parse: %v", tc.yaml, err)
			continue
		}
		err = cfg.Validate()
		named := err != nil && strings.Contains(err.Error(), tc.field+":")
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: must be accepted: %v", tc.yaml, err)
		case !tc.ok && !named:
			t.Errorf("%s: must be rejected naming %s: %v", tc.yaml, tc.field, err)
		}
	}
}
