package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

type fleetHealth struct {
	Snapshot struct {
		Source    string    `json:"source"`
		FetchedAt time.Time `json:"fetched_at"`
	} `json:"snapshot"`
	Sync struct {
		Relay *struct {
			Following       string     `json:"following"`
			Chain           []string   `json:"chain"`
			OriginSource    string     `json:"origin_source"`
			OriginFetchedAt *time.Time `json:"origin_fetched_at"`
			Push            bool       `json:"push"`
			Relays          []struct {
				URL       string `json:"url"`
				LastError string `json:"last_error"`
			} `json:"relays"`
		} `json:"relay"`
		LastRuns []struct {
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"last_runs"`
	} `json:"sync"`
}

func fleetHealthOf(t *testing.T, base, token string) fleetHealth {
	t.Helper()
	req := mustReq(t, "GET", base+"/v1/health")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	a := do(http.DefaultClient, req)
	var h fleetHealth
	if err := json.Unmarshal([]byte(a.body), &h); err != nil {
		t.Fatalf("/v1/health: %v: %s", err, a.body)
	}
	return h
}

// blockUntil does blocking reads on the daemon's drop-in list until its body contains want
// (no sleeping: each read returns when the revision moves), within the deadline.
func blockUntil(t *testing.T, base, want string, within time.Duration) {
	t.Helper()
	rev := "0"
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v1/runtimes?index=" + rev + "&wait=2s")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			return
		}
		rev = resp.Header.Get("X-Runtimes-Revision")
	}
	t.Fatalf("%s did not serve %q within %s", base, want, within)
}

// The real binary as relay and as sidecar: the relay needs its token and answers its service
// name; the sidecar (hourly schedule) gets a change by push, keeps the control plane's
// provenance, names the chain in /v1/health, and keeps serving when the relay is killed.
func TestFleet_RealBinaries(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "cp-key", ETags: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	relayCfg := writeConfig(t, "http:\n  token_reads: true\n  allowed_hosts: [\"runtimesd-relay.test\"]\nsync:\n  schedule: \"@every 1h\"\n")
	relay := start(t, bin, append(baseEnv(t), "KUBIYA_API_KEY=cp-key", "KUBIYA_CONTROL_PLANE_BASE_URL="+fake.URL(),
		"RUNTIMESD_TOKEN=relay-token", "RUNTIMESD_NODE_NAME=relay-0"),
		"serve", "--config", relayCfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	relayURL := "http://" + relay.addr
	// The relay requires its token on reads, and answers its service name as Host.
	if a := do(http.DefaultClient, mustReq(t, "GET", relayURL+"/api/v1/runtimes")); a.status != http.StatusUnauthorized {
		t.Fatalf("relay without token: %d", a.status)
	}
	req := mustReq(t, "GET", relayURL+"/v1/sync")
	req.Host = "runtimesd-relay.test"
	req.Header.Set("Authorization", "Bearer relay-token")
	for deadline := time.Now().Add(15 * time.Second); ; {
		a := do(http.DefaultClient, req)
		if a.status != 200 {
			t.Fatalf("relay by its service name: %d %s", a.status, a.body)
		}
		if strings.Contains(a.body, `"trigger":"boot"`) && !strings.Contains(a.body, `"running":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: no boot sync: %s", a.body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	sidecarCfg := writeConfig(t, "sync:\n  schedule: \"@every 1h\"\n")
	sidecar := start(t, bin, append(baseEnv(t), "RUNTIMESD_RELAYS="+relayURL, "RUNTIMESD_RELAY_TOKEN=relay-token", "RUNTIMESD_NODE_NAME=sidecar-0"),
		"serve", "--config", sidecarCfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	sidecarURL := "http://" + sidecar.addr
	blockUntil(t, sidecarURL, `"id":"default"`, 15*time.Second)

	// A change on the relay reaches the sidecar by push (its own schedule is an hour away).
	if err := fake.PutRuntime([]byte(`{"id":"fleet_change","name":"f","status":"available"}`)); err != nil {
		t.Fatal(err)
	}
	sreq := mustReq(t, "POST", relayURL+"/v1/sync")
	sreq.Header.Set("Authorization", "Bearer relay-token")
	if a := do(http.DefaultClient, sreq); a.status != 200 || !strings.Contains(a.body, `"changed"`) {
		t.Fatalf("relay sync: %d %s", a.status, a.body)
	}
	blockUntil(t, sidecarURL, "fleet_change", 10*time.Second)

	rh := fleetHealthOf(t, relayURL, "relay-token")
	sh := fleetHealthOf(t, sidecarURL, "")
	if sh.Snapshot.Source != "relay" || !sh.Snapshot.FetchedAt.Equal(rh.Snapshot.FetchedAt) {
		t.Errorf("sidecar snapshot %+v, relay's %+v: want source relay and the relay's fetched_at", sh.Snapshot, rh.Snapshot)
	}
	if r := sh.Sync.Relay; r == nil || r.Following != relayURL || !slices.Equal(r.Chain, []string{"relay-0"}) || r.OriginSource != "upstream" {
		t.Errorf("sidecar /v1/health sync.relay: %+v", r)
	}

	// The relay dies: the sidecar keeps serving its copy and says why in /v1/health.
	_ = relay.cmd.Process.Kill()
	<-relay.done
	resp, body := get(t, sidecarURL+"/api/v1/runtimes")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "fleet_change") {
		t.Fatalf("sidecar after the relay died: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := fleetHealthOf(t, sidecarURL, "").Sync.Relay
		if r != nil && len(r.Relays) == 1 && r.Relays[0].LastError != "" && !r.Push {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidecar health does not show the lost relay: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sidecar.stop(t)
}

// Bad fleet configuration is refused at start, naming the key.
func TestFleet_ConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ env, want string }{
		{"RUNTIMESD_RELAYS=ftp://x", "control_plane.relays"},
		{"RUNTIMESD_RELAYS=http://a:1,http://a:1", "listed twice"},
		{"RUNTIMESD_NODE_NAME=a,b", "node_name"},
	} {
		cfg := DefaultConfig()
		env := map[string]string{}
		k, v, _ := strings.Cut(c.env, "=")
		env[k] = v
		if err := cfg.ApplyEnv(func(s string) string { return env[s] }); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.env, err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.ControlPlane.RelayFallbackDirect = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "relay_fallback_direct") {
		t.Errorf("fallback without relays: %v", err)
	}
}
