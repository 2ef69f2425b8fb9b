package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

var updateScreenshots = flag.Bool("update", false, "write the dashboard screenshots to testdata/dashboard/")

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed, and CI must run the dashboard browser test (.ci/run installs it)")
	}
	t.Skip("skipping the dashboard browser test: Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
	return ""
}

// browser is a headless Chromium tab that records JavaScript errors.
type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	jsErrors []string
	shots    string
}

func newBrowser(t *testing.T) *browser {
	chromium := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelTimeout)
	b := &browser{t: t, ctx: ctx, shots: t.TempDir()}
	if *updateScreenshots {
		b.shots = filepath.Join("testdata", "dashboard")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.jsErrors = append(b.jsErrors, e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" {
				b.jsErrors = append(b.jsErrors, "console.error")
			}
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.jsErrors) > 0 {
			t.Errorf("JavaScript errors: %v", b.jsErrors)
		}
	})
	return b
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

func (b *browser) eval(js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shoot takes a screenshot of the whole page at width px and asserts that nothing scrolls
// sideways.
func (b *browser) shoot(name string, width int64) {
	b.t.Helper()
	b.do("resize to "+name, chromedp.EmulateViewport(width, 900))
	// Let layout settle for the new width: wait on the page's own answer, not a fixed sleep.
	b.do("layout "+name, chromedp.Poll[chromedp.Void](`window.innerWidth === `+itoa(width)))
	if !b.eval(`document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth`) {
		var widths string
		widths, _ = chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " > " + window.innerWidth + ": " +
			[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className).join(", ")`))
		b.t.Errorf("%s: the page scrolls sideways: %s", name, widths)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func itoa(n int64) string { return strings.TrimSpace(jsonNum(uint64(n))) }

// TestDashboard loads the page in headless Chromium against the real server and walks it
// through the states an operator meets: unverified seed data, healthy, degraded (an open
// breaker, failed and skipped runs, long texts), and the daemon gone. In the last three it
// takes screenshots at 1400 and 400 px and asserts that nothing scrolls sideways.
func TestDashboard(t *testing.T) {
	rules := health.FallbackRules{Chains: map[string][]string{"claude_code": {"default"}}, Default: "default"}
	gate := policyHolder(t, false, policy.Rule{Name: "no-beta", Deny: `runtime.status == "beta"`, Message: "beta runtimes are not allowed"},
		policy.Rule{Name: "kubiya-models", Deny: `!config.model_id.startsWith("kubiya/")`, Severity: "warning"})
	h := newHarness(t, fakecp.Options{}, withHealth(rules), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = gate })
	// The browser talks to the daemon through a proxy the test can take away.
	target, _ := url.Parse(h.url)
	front := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(front.Close)
	b := newBrowser(t)

	t.Log("unverified: seed data before any sync")
	b.do("load the dashboard", chromedp.EmulateViewport(1400, 900), chromedp.Navigate(front.URL+"/?refresh=1"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="claude_code"]`)))
	if age, rt := b.text("#age"), b.text(`tr[data-id="claude_code"]`); !strings.Contains(age, "unverified") || strings.Contains(age, "0s old") || !strings.Contains(rt, "unverified") || strings.Contains(rt, "healthy") {
		t.Errorf("seed data: age %q, runtime row %q; want unverified, not healthy", age, rt)
	}

	t.Log("healthy")
	h.sync(t)
	// claude_code with a new description and everything else (its requirements too) kept.
	var rts []map[string]any
	if err := json.Unmarshal(h.fake.Catalog(), &rts); err != nil {
		t.Fatal(err)
	}
	for _, rt := range rts {
		if rt["id"] == "claude_code" {
			rt["description"] = "changed"
			raw, _ := json.Marshal(rt)
			if err := h.fake.PutRuntime(raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.sync(t)
	b.do("healthy", chromedp.WaitVisible(chromedp.CSS(`#changes li[data-revision="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-kind="list"][data-state="closed"]`)))
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if overall, rts := b.text("#overall"), b.text("#runtimes"); overall != "ok" || title != "runtimesd: ok" || !strings.Contains(rts, "Claude Code SDK") || !strings.Contains(rts, "healthy") {
		t.Fatalf("overall %q title %q runtimes %q", overall, title, rts)
	}
	if ch := b.text(`#changes li[data-revision="2"]`); !strings.Contains(ch, "claude_code changed /description") {
		t.Errorf("recent change %q: want the changed field", ch)
	}
	if !b.eval(`document.querySelectorAll("#stripsvg rect.o-changed").length === 2`) {
		t.Error("the sync strip does not show the two runs")
	}
	// The policy panel: each rule and how often it decided what.
	for _, rt := range h.live.Load().Catalog.Runtimes() {
		gate.Check(rt, map[string]any{"model_id": "kubiya/claude-opus-4"})
	}
	b.do("policy panel", chromedp.Poll[chromedp.Void](`(document.querySelector('#policyrules tr[data-rule="no-beta"]') || {}).textContent === 'no-beta: runtime.status == "beta"error110'`))
	if info, warn := b.text("#policyinfo"), b.text(`#policyrules tr[data-rule="kubiya-models"]`); !strings.Contains(info, "2 rules · generation 1 · loaded") ||
		strings.Join(strings.Fields(warn), " ") != `kubiya-models: !config.model_id.startsWith("kubiya/") warning 0 2 0` {
		t.Errorf("policy panel: info %q, kubiya-models row %q", info, warn)
	}
	b.shoot("healthy-1400", 1400)
	b.shoot("healthy-400", 400)

	t.Log("degraded")
	long := strings.Repeat("a-very-long-runtime-name-without-spaces-", 8)
	if err := h.fake.PutRuntime([]byte(`{"id":"` + long + `","name":"` + long + `","status":"error"}`)); err != nil {
		t.Fatal(err)
	}
	h.sync(t)
	h.fake.SetFault(fakecp.Fault500)
	for range 6 {
		h.sync(t)
	}
	b.do("degraded", chromedp.EmulateViewport(1400, 900), chromedp.WaitVisible(chromedp.CSS(`tr[data-kind="list"][data-state="open"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#stripsvg rect.o-skipped").length > 0`))
	overall, reasons, brk, info := b.text("#overall"), b.text("#reasons"), b.text(`tr[data-kind="list"]`), b.text("#syncinfo")
	if overall != "degraded" || !strings.Contains(reasons, "circuit breaker for list calls is open") {
		t.Errorf("overall %q reasons %q", overall, reasons)
	}
	if !strings.Contains(brk, "opened after") || strings.Contains(brk, "0 in a row") {
		t.Errorf("open breaker row %q: want what opened it, not 0 failures in a row", brk)
	}
	if !strings.Contains(info, "failed") || !strings.Contains(info, "skipped") || !strings.Contains(reasons, "skipped since the last success") {
		t.Errorf("sync info %q, reasons %q: want failed and skipped runs counted apart", info, reasons)
	}
	if !b.eval(`document.querySelectorAll('#breakerline svg[data-kind="list"] rect.b-open').length > 0`) {
		t.Error("the breaker timeline does not show the open breaker")
	}
	b.shoot("degraded-1400", 1400)
	b.shoot("degraded-400", 400)

	t.Log("daemon gone")
	front.Close()
	b.do("stale", chromedp.EmulateViewport(1400, 900), chromedp.WaitVisible(chromedp.CSS(`body.stale`)))
	if overall, age, errText := b.text("#overall"), b.text("#age"), b.text("#error"); overall != "unreachable" || !strings.Contains(age, "last answer at") || !strings.Contains(errText, "cannot reach runtimesd") {
		t.Errorf("daemon gone: overall %q age %q error %q", overall, age, errText)
	}
	if !b.eval(`document.title === "runtimesd: unreachable" && !document.querySelector("#overall").classList.contains("degraded")`) {
		t.Error("the badge or title still claims the last known state")
	}
	b.shoot("gone-1400", 1400)
	b.shoot("gone-400", 400)
	t.Logf("screenshots in %s", b.shots)
}

// TestDashboard_Token: with a token on reads, the page asks for it once, keeps it in the
// tab's session storage and sends it as a Bearer token; a wrong token is asked again.
func TestDashboard_Token(t *testing.T) {
	const token = "dash-token-42"
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Token, o.TokenReads = token, true })
	h.sync(t)
	b := newBrowser(t)
	b.do("load", chromedp.Navigate(h.url+"/?refresh=1"), chromedp.WaitVisible(chromedp.CSS(`#login`)))
	if overall := b.text("#overall"); overall != "sign in" {
		t.Errorf("badge %q before the token", overall)
	}
	b.do("wrong token", chromedp.SendKeys(chromedp.CSS(`#token`), "wrong"), chromedp.Click(chromedp.CSS(`#login button`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#loginmsg").textContent.includes("not accepted")`))
	b.do("right token", chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#login button`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="claude_code"]`)))
	if !b.eval(`sessionStorage.getItem("runtimesd.token") === "` + token + `"`) {
		t.Error("the token is not in session storage")
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="claude_code"]`)))
	if b.eval(`getComputedStyle(document.querySelector("#login")).display !== "none"`) {
		t.Error("the page asked for the token again after a reload in the same tab")
	}
	if overall := b.text("#overall"); overall != "ok" {
		t.Errorf("overall %q", overall)
	}
}

// TestDashboard_ClockSkew: data whose fetched_at is ahead of the daemon's clock has an unknown
// age (issue 12). The page used to show it as "data 0s old" with green healthy runtimes; it
// now says the age is unknown and why, and shows the runtimes as unverified.
func TestDashboard_ClockSkew(t *testing.T) {
	live := store.NewLive(&store.Snapshot{Revision: 3, Source: store.SourceCache, Catalog: store.SeedCatalog(),
		FetchedAt: time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	defer api.Shutdown()
	b := newBrowser(t)
	b.do("load the dashboard", chromedp.EmulateViewport(1400, 900), chromedp.Navigate("http://"+api.Addr()+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="claude_code"]`)))
	age, rt := b.text("#age"), b.text(`tr[data-id="claude_code"]`)
	if !strings.Contains(age, "age unknown") || !strings.Contains(age, "clock skew") || strings.Contains(age, "0s old") {
		t.Errorf("clock-skewed data: age %q; want the age unknown and why, not 0s old", age)
	}
	if !strings.Contains(rt, "unverified") || strings.Contains(rt, "healthy") {
		t.Errorf("clock-skewed data: runtime row %q; want unverified, not healthy", rt)
	}
	if info := b.text("#policyinfo"); info != "no policy rules configured (policy.rules)" {
		t.Errorf("policy panel without rules: %q", info)
	}
}
