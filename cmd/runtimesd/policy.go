package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

// PolicyConfig is the organisation's policy (issue 18): CEL rules applied where answers are
// decided. Reloadable on SIGHUP.
type PolicyConfig struct {
	Rules []policy.Rule `yaml:"rules"`
	// EnforceDropIn adds policy errors to the drop-in POST /api/v1/runtimes/validate answer
	// (a deliberate deviation from the control plane's answer; off by default).
	EnforceDropIn bool `yaml:"enforce_dropin"`
	// OnError is what a rule that cannot be evaluated means when the rule sets no on_error of
	// its own: deny or allow. Empty: deny for error rules, allow for warnings.
	OnError string `yaml:"on_error"`
}

// rules are the configured rules with policy.on_error filled in where a rule leaves it out.
func (p PolicyConfig) rules() []policy.Rule {
	if p.OnError == "" {
		return p.Rules
	}
	out := make([]policy.Rule, len(p.Rules))
	for i, r := range p.Rules {
		if r.OnError == "" {
			r.OnError = p.OnError
		}
		out[i] = r
	}
	return out
}

// validate compiles the rules and names each problem by its key, "policy.rules[2].deny", so
// that withLines can add the line of the file.
func (p PolicyConfig) validate() []error {
	if p.OnError != "" && p.OnError != policy.OnErrorDeny && p.OnError != policy.OnErrorAllow {
		return []error{fmt.Errorf("policy.on_error: %q: want deny or allow", p.OnError)}
	}
	_, err := policy.Compile(p.rules(), policy.Options{})
	if err == nil {
		return nil
	}
	if errors.Is(err, policy.ErrTooManyRules) {
		return []error{fmt.Errorf("policy.rules: %d rules, at most %d", len(p.Rules), policy.MaxRules)}
	}
	var out []error
	for _, e := range unjoin(err) {
		var re *policy.RuleError
		if !errors.As(e, &re) {
			out = append(out, fmt.Errorf("policy.rules: %w", e))
			continue
		}
		who := fmt.Sprintf("rule %q", re.Name)
		if re.Name == "" {
			who = fmt.Sprintf("rule #%d", re.Index+1)
		}
		out = append(out, fmt.Errorf("policy.rules[%d].%s: %s: %v", re.Index, re.Field, who, re.Err))
	}
	return out
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// policyLines maps "policy.rules[i].field" (and "policy.rules[i]") to its line in the YAML
// document, for withLines: walkYAMLKeys does not enter lists.
func policyLines(data []byte) map[string]int {
	lines := map[string]int{}
	walkYAMLKeys(data, func(key string, _, v *yaml.Node) {
		if key != "policy.rules" || v.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range v.Content {
			lines[fmt.Sprintf("policy.rules[%d]", i)] = item.Line
			if item.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(item.Content); j += 2 {
				lines[fmt.Sprintf("policy.rules[%d].%s", i, item.Content[j].Value)] = item.Content[j].Line
			}
		}
	})
	return lines
}

// policyOptions are the engine options a config gives.
func policyOptions(p PolicyConfig, cls *health.Classifier) policy.Options {
	return policy.Options{Classifier: cls, EnforceDropIn: p.EnforceDropIn}
}

// newPolicyHolder compiles the configured rules into a holder that reloads swap.
func newPolicyHolder(p PolicyConfig, cls *health.Classifier) (*policy.Holder, error) {
	h := &policy.Holder{}
	if _, err := h.Replace(p.rules(), policyOptions(p, cls)); err != nil {
		return nil, fmt.Errorf("compile policy rules: %w", err)
	}
	return h, nil
}

// policyCollector exposes the rules' counters at scrape time: the label set is bounded by
// policy.MaxRules names times three outcomes.
type policyCollector struct {
	h         *policy.Holder
	decisions *prometheus.Desc
	rules     *prometheus.Desc
	gen       *prometheus.Desc
}

func newPolicyCollector(h *policy.Holder) *policyCollector {
	return &policyCollector{h: h,
		decisions: prometheus.NewDesc("runtimesd_policy_decisions_total",
			"Policy rule decisions by rule and outcome (deny, allow, error) since start.", []string{"rule", "outcome"}, nil),
		rules: prometheus.NewDesc("runtimesd_policy_rules",
			"Number of policy rules loaded.", nil, nil),
		gen: prometheus.NewDesc("runtimesd_policy_generation",
			"Compilations of the policy rules since start (1 at start, +1 per reload that changed them or not).", nil, nil),
	}
}

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.decisions
	ch <- c.rules
	ch <- c.gen
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Current()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.rules, prometheus.GaugeValue, float64(s.Len()))
	ch <- prometheus.MustNewConstMetric(c.gen, prometheus.GaugeValue, float64(s.Generation()))
	for _, r := range s.Stats() {
		ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(r.Denied), r.Name, health.VerdictDeny)
		ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(r.Allowed), r.Name, policy.OutcomeAllow)
		ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(r.Errors), r.Name, health.VerdictError)
	}
}

// policyTestReport is `runtimesd policy test --json`.
type policyTestReport struct {
	// Runtimes is how many runtimes of the catalog were evaluated; Source is where it came from.
	Runtimes int                `json:"runtimes"`
	Source   string             `json:"source"`
	Revision uint64             `json:"revision"`
	Rules    []policyTestResult `json:"rules"`
}

type policyTestResult struct {
	Name     string `json:"name"`
	Severity string `json:"severity"`
	OnError  string `json:"on_error"`
	// NotEvaluated: the rule reads config and no --input was given (as where no configuration
	// is decided: listing, selecting, resolving).
	NotEvaluated bool `json:"not_evaluated"`
	// Denies are the runtimes the rule denies; Errors those it could not be evaluated on.
	Denies []string          `json:"denies"`
	Errors []policyTestError `json:"errors"`
}

type policyTestError struct {
	Runtime string `json:"runtime"`
	Message string `json:"message"`
}

// cmdPolicy is `runtimesd policy test`: the config file's rules (--config) against the catalog
// of the running daemon, or of the data file with --offline. Exit 0 when every rule was
// evaluated on every runtime (what they deny is the answer), 1 when a rule could not be
// evaluated on some runtime or the rules do not compile, 2 on bad usage.
func cmdPolicy(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cf clientFlags
	var input string
	fs := newClientFlags("policy", stderr, &cf)
	fs.StringVar(&input, "input", "", `the config variable as a JSON object, e.g. '{"model_id":"kubiya/claude-sonnet-4","environment":{"timeout":"30"}}' (default: none, as where no configuration is decided: rules that read config are not evaluated)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "test" {
		return usageErr("usage: runtimesd policy test [--config FILE] [--input JSON] [--offline] [--json]")
	}
	var config map[string]any
	if input != "" {
		dec := json.NewDecoder(strings.NewReader(input))
		dec.UseNumber()
		if err := dec.Decode(&config); err != nil || config == nil || strings.TrimLeft(input[dec.InputOffset():], " \t\r\n") != "" {
			return usageErr("policy test: --input must be one JSON object, e.g. '{\"model_id\":\"kubiya/x\"}'")
		}
	}
	cfg, err := loadClientConfig(cf.common, getenv)
	if err != nil {
		return err
	}
	if errs := cfg.Policy.validate(); len(errs) > 0 {
		data, _ := os.ReadFile(cf.config)
		return fmt.Errorf("config %s: %w", cf.config, withLines(data, errors.Join(errs...)))
	}
	if len(cfg.Policy.Rules) == 0 {
		fmt.Fprintln(stderr, "runtimesd: the config has no policy.rules: nothing to test (give --config FILE)")
	}
	cls, err := health.NewClassifier(cfg.Health.StatusMap)
	if err != nil {
		return fmt.Errorf("config: health.status_map: %w", err)
	}
	set, err := policy.Compile(cfg.Policy.rules(), policy.Options{Classifier: cls, NoCache: true})
	if err != nil {
		return fmt.Errorf("compile policy rules: %w", err)
	}
	if config != nil {
		config = health.PolicyInput(config)
	}
	return withClient(cf, getenv, stderr, func(c *apiClient) error {
		rts, source, revision, err := policyCatalog(c)
		if err != nil {
			return err
		}
		list := struct{ Runtimes []*store.Runtime }{rts}
		rep := policyTestReport{Runtimes: len(list.Runtimes), Source: source, Revision: revision}
		byRule := map[string]*policyTestResult{}
		for _, st := range set.Stats() {
			rep.Rules = append(rep.Rules, policyTestResult{Name: st.Name, Severity: st.Severity, OnError: st.OnError,
				NotEvaluated: st.UsesConfig && config == nil, Denies: []string{}, Errors: []policyTestError{}})
		}
		for i := range rep.Rules {
			byRule[rep.Rules[i].Name] = &rep.Rules[i]
		}
		for _, rt := range list.Runtimes {
			for _, v := range set.Check(rt, config) {
				r := byRule[v.Rule]
				if v.Outcome == health.VerdictDeny {
					r.Denies = append(r.Denies, rt.ID)
				} else {
					r.Errors = append(r.Errors, policyTestError{Runtime: rt.ID, Message: v.Message})
				}
			}
		}
		if cf.jsonOut {
			out, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			if err := printJSON(stdout, out); err != nil {
				return err
			}
		} else {
			printPolicyTest(stdout, rep)
		}
		for _, r := range rep.Rules {
			if len(r.Errors) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("policy rule %q could not be evaluated on %d runtime(s)", r.Name, len(r.Errors))}
			}
		}
		return nil
	})
}

func printPolicyTest(w io.Writer, rep policyTestReport) {
	fmt.Fprintf(w, "%d runtimes (revision %d, source %s)\n", rep.Runtimes, rep.Revision, rep.Source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tON_ERROR\tDENIES\tCOULD NOT EVALUATE")
	for _, r := range rep.Rules {
		var errIDs []string
		for _, e := range r.Errors {
			errIDs = append(errIDs, e.Runtime)
		}
		denies := listOrDash(r.Denies)
		if r.NotEvaluated {
			denies = "(reads config: give --input)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Severity, r.OnError, denies, listOrDash(errIDs))
	}
	tw.Flush()
	for _, r := range rep.Rules {
		for _, e := range r.Errors {
			fmt.Fprintf(w, "%s on %s: %s\n", r.Name, e.Runtime, e.Message)
		}
	}
}

func listOrDash(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ",")
}

// policyCatalog is the catalog policy test evaluates: the data file's (offline) or the running
// daemon's, read through GET /v1/runtimes.
func policyCatalog(c *apiClient) (rts []*store.Runtime, source string, revision uint64, err error) {
	if c.off != nil {
		snap := c.off.snap
		return snap.Catalog.Runtimes(), string(snap.Source), snap.Revision, nil
	}
	b, err := c.do("GET", "/v1/runtimes", nil)
	if err != nil {
		return nil, "", 0, err
	}
	var list struct {
		Revision uint64 `json:"revision"`
		Source   string `json:"source"`
		Runtimes []struct {
			Runtime      json.RawMessage `json:"runtime"`
			Requirements json.RawMessage `json:"requirements"`
		} `json:"runtimes"`
	}
	if err := hasKeys(b, reflect.TypeFor[health.RuntimeList]()); err != nil {
		return nil, "", 0, fmt.Errorf("read the catalog from %s: the answer is not a runtime list (is it a runtimesd?): %w", c.target, err)
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, "", 0, fmt.Errorf("read the catalog from %s: %w", c.target, err)
	}
	for _, item := range list.Runtimes {
		rt, err := store.NewRuntime(item.Runtime, item.Requirements)
		if err != nil {
			return nil, "", 0, fmt.Errorf("read the catalog from %s: %w", c.target, err)
		}
		rts = append(rts, rt)
	}
	return rts, list.Source, list.Revision, nil
}
