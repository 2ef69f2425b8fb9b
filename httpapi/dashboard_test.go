package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

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

// TestDashboard loads the page in headless Chromium against the real server: it shows the
// fake control plane's runtimes, then the open breaker once the control plane fails, with no
// JavaScript error on the way.
func TestDashboard(t *testing.T) {
	chromium := findChromium(t)
	rules := health.FallbackRules{Chains: map[string][]string{"claude_code": {"default"}}, Default: "default"}
	h := newHarness(t, fakecp.Options{}, withHealth(rules))
	h.sync(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var jsErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			jsErrors = append(jsErrors, e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" {
				jsErrors = append(jsErrors, "console.error")
			}
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/dashboard?refresh=1"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="claude_code"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-kind="list"][data-state="closed"]`)),
	)
	if err != nil {
		t.Fatalf("dashboard did not render: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	overall, runtimesText := text("#overall"), text("#runtimes")
	if overall != "ok" || !strings.Contains(runtimesText, "default") || !strings.Contains(runtimesText, "Claude Code SDK") || title != "runtimesd: ok" {
		t.Fatalf("overall %q title %q runtimes %q", overall, title, runtimesText)
	}

	h.fake.SetFault(fakecp.Fault500)
	for range 3 {
		h.sync(t)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-kind="list"][data-state="open"]`))); err != nil {
		t.Fatalf("the open breaker never showed: %v", err)
	}
	overall, reasons := text("#overall"), text("#reasons")
	if overall != "degraded" || !strings.Contains(reasons, "circuit breaker for list calls is open") {
		t.Errorf("overall %q reasons %q", overall, reasons)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("JavaScript errors: %v", jsErrors)
	}
}
