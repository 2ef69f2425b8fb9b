package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// serveFlags returns the flags `serve` accepts.
func serveFlags() map[string]bool {
	var c common
	fs := newFlags("serve", io.Discard, &c)
	fs.String("listen", "", "")
	fs.String("seed", "", "")
	fs.Bool("dev", false, "")
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

func checkServeArgs(t *testing.T, what string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("%s: does not run serve: %v", what, args)
	}
	flags := serveFlags()
	for _, a := range args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: serve has no flag --%s", what, name)
			}
		}
	}
}

// The Kubernetes example parses, runs serve with flags that exist, takes the API key from a
// Secret, keeps data on a volume, and probes with commands that work against a real daemon.
func TestDeployKubernetes(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../deploy/kubernetes/runtimesd-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dep struct {
		Kind string
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name, Image string
						Args        []string
						Env         []struct {
							Name, Value string
							ValueFrom   *struct {
								SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
							} `yaml:"valueFrom"`
						}
						VolumeMounts []struct {
							Name      string
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
						ReadinessProbe *struct {
							Exec struct{ Command []string }
						} `yaml:"readinessProbe"`
						Liveness *struct {
							Exec struct{ Command []string }
						} `yaml:"livenessProbe"`
					}
				}
			}
		}
	}
	dec := yaml.NewDecoder(f)
	if err := dec.Decode(&dep); err != nil {
		t.Fatal(err)
	}
	if dep.Kind != "Deployment" {
		t.Fatalf("kind %q", dep.Kind)
	}
	var probes [][]string
	found := false
	for _, c := range dep.Spec.Template.Spec.Containers {
		switch c.Name {
		case "agent":
			if len(c.Env) == 0 || c.Env[0].Name != EnvBaseURL || c.Env[0].Value != "http://"+DefaultConfig().Listen {
				t.Errorf("the agent must reach the sidecar at its default listen address: %+v", c.Env)
			}
		case "runtimesd":
			found = true
			checkServeArgs(t, "kubernetes", c.Args)
			if len(c.Env) == 0 || c.Env[0].Name != EnvAPIKey || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil {
				t.Errorf("the API key must come from a Secret: %+v", c.Env)
			}
			if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].MountPath != "/var/lib/runtimesd" {
				t.Errorf("the data dir must be a volume: %+v", c.VolumeMounts)
			}
			if c.ReadinessProbe == nil || c.Liveness == nil {
				t.Fatal("probes missing")
			}
			probes = append(probes, c.ReadinessProbe.Exec.Command, c.Liveness.Exec.Command)
		}
	}
	if !found {
		t.Fatal("no runtimesd container")
	}

	fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	env := map[string]string{EnvAPIKey: "k", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	addr, stop := startInProcess(t, env, "--data", t.TempDir())
	defer stop()
	for _, cmd := range probes {
		if len(cmd) < 3 || cmd[0] != "/runtimesd" || cmd[1] != "probe" {
			t.Fatalf("probe command %v", cmd)
		}
		if code, out, errOut := runMain(t, env, append(cmd[1:], "--addr", addr)...); code != 0 {
			t.Errorf("%v against a running daemon: exit %d %s %s", cmd, code, out, errOut)
		}
		if code, _, _ := runMain(t, env, append(cmd[1:], "--addr", closedPort(t))...); code == 0 {
			t.Errorf("%v must fail when no daemon answers", cmd)
		}
	}
}

// The systemd unit runs serve with flags that exist, its config passes `config check`, and
// systemd-analyze verify accepts it when available.
func TestDeploySystemd(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../deploy/systemd/runtimesd.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	for k, want := range map[string]string{"DynamicUser": "yes", "StateDirectory": "runtimesd", "ProtectSystem": "strict", "NoNewPrivileges": "yes"} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	exec0 := strings.Fields(keys["ExecStart"])
	checkServeArgs(t, "systemd", exec0[1:])
	if code, _, stderr := runMain(t, map[string]string{}, "config", "check", "../../deploy/systemd/config.yaml"); code != 0 {
		t.Fatalf("deploy/systemd/config.yaml: %s", stderr)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit checked by hand only")
		return
	}
	// verify needs the ExecStart binary to exist: point a copy of the unit at a real one.
	bin := buildBinary(t)
	unit := t.TempDir() + "/runtimesd.service"
	os.WriteFile(unit, bytes.ReplaceAll(data, []byte("ExecStart=/usr/local/bin/runtimesd"), []byte("ExecStart="+bin)), 0o644)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) || bytes.Contains(out, []byte("runtimesd.service:")) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else if err != nil {
		t.Logf("systemd-analyze could not run here: %v", err)
	}
}

// The Dockerfile builds the real main package and starts serve with flags that exist, as a
// non-root user. (No Docker engine runs here; this checks what can be checked.)
func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"./cmd/runtimesd", "CGO_ENABLED=0", "USER nonroot", `ENTRYPOINT ["/runtimesd"]`} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat("../../cmd/runtimesd/main.go"); err != nil {
		t.Fatal(err)
	}
	// The volume's directory is in the image, owned by distroless's nonroot (65532) before
	// VOLUME declares it: a new named volume takes that owner. Missing, it is root's and the
	// daemon cannot write there.
	copyDir := strings.Index(text, "--chown=65532:65532 /out/data /var/lib/runtimesd")
	volume := strings.Index(text, `VOLUME ["/var/lib/runtimesd"]`)
	if copyDir < 0 || volume < 0 || copyDir > volume || !strings.Contains(text, "mkdir -m 0700 /out/data") {
		t.Errorf("Dockerfile must create /var/lib/runtimesd (0700, owned by 65532) before VOLUME declares it")
	}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "CMD "); ok {
			var args []string
			if err := yaml.Unmarshal([]byte(rest), &args); err != nil {
				t.Fatalf("CMD %s: %v", rest, err)
			}
			checkServeArgs(t, "Dockerfile", args)
		}
	}
}
