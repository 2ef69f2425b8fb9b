package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

type k8sDoc struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string
	Spec     struct {
		Replicas        int
		Selector        map[string]any
		SessionAffinity string `yaml:"sessionAffinity"`
		MinAvailable    int    `yaml:"minAvailable"`
		Ports           []struct{ Port int }
		Template        struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				Containers []struct {
					Name string
					Args []string
					Env  []struct {
						Name, Value string
						ValueFrom   map[string]any `yaml:"valueFrom"`
					}
				}
			}
		}
	}
}

func readK8s(t *testing.T, path string) map[string]k8sDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]k8sDoc{}
	dec := yaml.NewDecoder(f)
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs[d.Kind] = d
	}
	return docs
}

// The relay tier's manifests: 2+ replicas, a Service and a PodDisruptionBudget selecting them,
// a config that validates and lets the Service's names in, and a fleet sidecar that follows
// that Service with the relay token.
func TestDeployKubernetesFleet(t *testing.T) {
	t.Parallel()
	relay := readK8s(t, "../../deploy/kubernetes/runtimesd-relay.yaml")
	dep, svc, pdb, cm := relay["Deployment"], relay["Service"], relay["PodDisruptionBudget"], relay["ConfigMap"]
	if dep.Spec.Replicas < 2 {
		t.Errorf("relay replicas %d, want 2 or more", dep.Spec.Replicas)
	}
	labels := dep.Spec.Template.Metadata.Labels
	if fmt.Sprint(svc.Spec.Selector) != fmt.Sprint(map[string]any{"app": labels["app"]}) || svc.Spec.SessionAffinity != "ClientIP" {
		t.Errorf("service selector %v affinity %q, pod labels %v", svc.Spec.Selector, svc.Spec.SessionAffinity, labels)
	}
	if fmt.Sprint(pdb.Spec.Selector["matchLabels"]) != fmt.Sprint(map[string]any{"app": labels["app"]}) || pdb.Spec.MinAvailable < 1 {
		t.Errorf("PDB %+v", pdb.Spec)
	}
	cfg, err := ParseConfig(strings.NewReader(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	cfg.token = "t"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if isLoopback(cfg.Listen) || !cfg.HTTP.TokenReads {
		t.Errorf("a relay listens beyond loopback and requires its token on reads: %+v", cfg.HTTP)
	}
	host := svc.Metadata.Name + ".runtimesd.svc"
	if !slices.Contains(cfg.HTTP.AllowedHosts, host) {
		t.Errorf("allowed_hosts %v lacks %s", cfg.HTTP.AllowedHosts, host)
	}
	envOf := func(d k8sDoc) map[string]bool {
		m := map[string]bool{}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "runtimesd" {
				checkServeArgs(t, d.Metadata.Name, c.Args)
				for _, e := range c.Env {
					m[e.Name+"="+e.Value] = true
					m[e.Name] = true
				}
			}
		}
		return m
	}
	if e := envOf(dep); !e[EnvAPIKey] || !e[EnvToken] || !e[EnvNodeName] {
		t.Errorf("relay env %v: needs the API key, the token and the node name", e)
	}
	side := readK8s(t, "../../deploy/kubernetes/runtimesd-fleet-sidecar.yaml")["Deployment"]
	e := envOf(side)
	want := fmt.Sprintf("%s=http://%s:%d", EnvRelays, host, svc.Spec.Ports[0].Port)
	if !e[want] || !e[EnvRelayToken] || e[EnvAPIKey] {
		t.Errorf("fleet sidecar env %v: want %s, the relay token and no API key", e, want)
	}
}

// findNginx returns the nginx binary, or skips saying how to get it.
func findNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("skipping: nginx is not installed (Debian package nginx; .ci/run installs it)")
	return ""
}

// Sidecars follow two relays through a real nginx with deploy/nginx/runtimesd-relays.conf:
// a change arrives by push through the proxy, and when the relay a sidecar sticks to is killed
// the proxy moves it to the other and the next change still arrives.
func TestFleet_ThroughNginx(t *testing.T) {
	t.Parallel()
	ngx := findNginx(t)
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "cp-key", ETags: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	relayCfg := writeConfig(t, "http:\n  token_reads: true\nsync:\n  schedule: \"@every 1h\"\n")
	var relays []*daemon
	for i := range 2 {
		relays = append(relays, start(t, bin, append(baseEnv(t), "KUBIYA_API_KEY=cp-key", "KUBIYA_CONTROL_PLANE_BASE_URL="+fake.URL(),
			"RUNTIMESD_TOKEN=relay-token", fmt.Sprintf("RUNTIMESD_NODE_NAME=relay-%d", i)),
			"serve", "--config", relayCfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0"))
	}
	syncRelays := func() {
		for _, r := range relays {
			if r.cmd.ProcessState != nil {
				continue
			}
			req := mustReq(t, "POST", "http://"+r.addr+"/v1/sync")
			req.Header.Set("Authorization", "Bearer relay-token")
			if a := do(http.DefaultClient, req); a.status != 200 {
				t.Fatalf("relay sync: %d %s", a.status, a.body)
			}
		}
	}
	syncRelays()

	conf, err := os.ReadFile("../../deploy/nginx/runtimesd-relays.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(closedPort(t), "127.0.0.1:")
	servers := regexp.MustCompile(`server relay-a\.internal:7878`).ReplaceAll(conf, []byte("server "+relays[0].addr))
	servers = regexp.MustCompile(`server relay-b\.internal:7878`).ReplaceAll(servers, []byte("server "+relays[1].addr))
	servers = bytes.Replace(servers, []byte("listen 7879;"), []byte("listen 127.0.0.1:"+port+";"), 1)
	if bytes.Equal(servers, conf) || bytes.Contains(servers, []byte(".internal")) {
		t.Fatal("deploy/nginx/runtimesd-relays.conf no longer has the server lines this test replaces")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "relays.conf"), servers, 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/relays.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ngx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	var ngxErr bytes.Buffer
	cmd.Stderr = &ngxErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ngxDone := make(chan error, 1)
	go func() { ngxDone <- cmd.Wait() }()
	defer func() {
		// SIGTERM is nginx's fast shutdown: the master stops its worker, then exits. A SIGKILL
		// to the master left the worker running, orphaned, after the test.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ngxDone:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-ngxDone
		}
	}()
	proxy := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(proxy + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-ngxDone:
			t.Fatalf("nginx exited: %v\n%s", err, ngxErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer within 10s: %s", ngxErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	sidecarCfg := writeConfig(t, "sync:\n  schedule: \"@every 1h\"\n")
	var sidecars []string
	for i := range 2 {
		d := start(t, bin, append(baseEnv(t), "RUNTIMESD_RELAYS="+proxy, "RUNTIMESD_RELAY_TOKEN=relay-token", fmt.Sprintf("RUNTIMESD_NODE_NAME=sidecar-%d", i)),
			"serve", "--config", sidecarCfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
		sidecars = append(sidecars, "http://"+d.addr)
	}
	change := func(id string) {
		if err := fake.PutRuntime([]byte(`{"id":"` + id + `","name":"x","status":"available"}`)); err != nil {
			t.Fatal(err)
		}
		syncRelays()
		for _, s := range sidecars {
			blockUntil(t, s, id, 15*time.Second)
		}
	}
	change("through_nginx")
	_ = relays[0].cmd.Process.Kill()
	<-relays[0].done
	change("after_relay_0_died")
}
