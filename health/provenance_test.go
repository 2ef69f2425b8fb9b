package health_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// TestStaleness_OneDecision: the answers' provenance and the health report's status agree on
// staleness for every cause, each worded for its reader.
func TestStaleness_OneDecision(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := func(src store.Source, seedFile string, fetched time.Time) *store.Snapshot {
		return &store.Snapshot{Revision: 7, Source: src, SeedFile: seedFile, FetchedAt: fetched, Catalog: store.SeedCatalog()}
	}
	cases := []struct {
		name         string
		snap         *store.Snapshot
		cause        string
		answer, oper string
	}{
		{"Fresh", snap(store.SourceCache, "", now.Add(-time.Minute)), health.StaleNot, "", ""},
		{"SeedFile", snap(store.SourceSeed, "/etc/seed.json", time.Time{}), health.StaleSeedFile,
			"the operator's seed file /etc/seed.json: the control plane has not been reached yet",
			"serving the operator's seed file /etc/seed.json: the control plane has not been reached"},
		{"Seed", snap(store.SourceSeed, "", time.Time{}), health.StaleSeed,
			"built-in seed data: the control plane has not been reached yet",
			"serving the built-in seed data: the control plane has not been reached"},
		{"Unconfirmed", snap(store.SourceImport, "", time.Time{}), health.StaleUnconfirmed,
			"data never confirmed by the control plane", "serving data never confirmed by the control plane"},
		{"ClockSkew", snap(store.SourceCache, "", now.Add(time.Hour)), health.StaleClockSkew,
			"clock skew: fetched_at is ahead of this machine's clock, so the data's age is unknown until a sync confirms it",
			"clock skew: the data's fetched_at (2026-01-02T04:04:05Z) is 1h0m0s ahead of this machine's clock; its age is unknown, so it counts as stale until a sync confirms it"},
		{"TooOld", snap(store.SourceCache, "", now.Add(-6*time.Minute)), health.StaleTooOld,
			"data older than max_stale (5m0s)", "data is 6m0s old, beyond max_stale 5m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := health.StalenessOf(c.snap, now, 5*time.Minute)
			if st.Cause != c.cause || st.Reason() != c.answer || st.HealthReason() != c.oper {
				t.Fatalf("staleness = %q %q %q, want %q %q %q", st.Cause, st.Reason(), st.HealthReason(), c.cause, c.answer, c.oper)
			}
			p := health.ProvenanceOf(c.snap, now, 5*time.Minute)
			if p.Stale != (c.cause != "") || p.StaleReason != c.answer {
				t.Fatalf("provenance stale=%v %q, want %v %q", p.Stale, p.StaleReason, c.cause != "", c.answer)
			}
			status, reasons := health.Assess(health.Inputs{Snapshot: c.snap, Now: now, MaxStale: 5 * time.Minute,
				Sync: health.SyncStatus{Enabled: true}})
			if got := strings.Join(reasons, "|"); (c.oper == "") != (status == health.StatusOK) || !strings.Contains(got, c.oper) {
				t.Fatalf("Assess = %s %q, want the reason %q", status, got, c.oper)
			}
			// The append encoder writes what encoding/json writes for the struct.
			want, _ := json.Marshal(p)
			got := append(append([]byte{'{'}, health.AppendProvenance(nil, c.snap, now, 5*time.Minute)...), '}')
			if string(got) != string(want) {
				t.Fatalf("AppendProvenance = %s\nencoding/json  = %s", got, want)
			}
		})
	}
}

// FuzzAppendJSONString: the answers' string encoder writes exactly encoding/json's bytes (HTML
// escaping off), so a hand-encoded answer is byte-identical to the reflected one.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quo"te\back`, "tab\tnl\ncr\r\x00\x1f\b\f\x7f", "é🤖", "\xff\xfe", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if got := string(health.AppendJSONString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("%q: got %s, want %s", s, got, want.String())
		}
	})
}
