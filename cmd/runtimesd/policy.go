package main

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
)

// PolicyConfig is the organisation's policy (issue 18): CEL rules applied where answers are
// decided. Reloadable on SIGHUP.
type PolicyConfig struct {
	Rules []policy.Rule `yaml:"rules"`
	// EnforceDropIn adds policy errors to the drop-in POST /api/v1/runtimes/validate answer
	// (a deliberate deviation from the control plane's answer; off by default).
	EnforceDropIn bool `yaml:"enforce_dropin"`
}

// validate compiles the rules and names each problem by its key, "policy.rules[2].deny", so
// that withLines can add the line of the file.
func (p PolicyConfig) validate() []error {
	_, err := policy.Compile(p.Rules, policy.Options{})
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
	if _, err := h.Replace(p.Rules, policyOptions(p, cls)); err != nil {
		return nil, fmt.Errorf("compile policy rules: %w", err)
	}
	return h, nil
}

// reloadPolicy swaps in the rules of next (already validated, so compiling cannot fail but for
// the classifier).
func (r *reloader) reloadPolicy(next Config) error {
	if r.policy == nil {
		return nil
	}
	cls, err := health.NewClassifier(next.Health.StatusMap)
	if err != nil {
		return fmt.Errorf("health.status_map: %w", err)
	}
	if _, err := r.policy.Replace(next.Policy.Rules, policyOptions(next.Policy, cls)); err != nil {
		return fmt.Errorf("compile policy rules: %w", err)
	}
	return nil
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
