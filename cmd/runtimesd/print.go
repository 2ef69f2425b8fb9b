package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/runtimesd/runtimesd/health"
)

// The printers of the client commands: each takes the typed answer (health's structs, the
// same online and offline) and writes the table people read. --json prints the answer itself.

func printList(w io.Writer, l health.RuntimeList) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPROVIDERS\tFEATURES\tDEGRADED")
	for _, rt := range l.Runtimes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%t\n", rt.ID, dash(rt.Name), rt.Status,
			dash(strings.Join(rt.Providers, ",")), len(rt.Features), rt.Degraded)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d runtimes; %s\n", l.Count, provenanceLine(l.Provenance))
}

func printRuntime(w io.Writer, a health.RuntimeAnswer) {
	rt := a.Runtime
	description := rawText(rawObject(rt.Runtime)["description"])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nname:\t%s\nstatus:\t%s\ntype:\t%s\ndescription:\t%s\nproviders:\t%s\nfamilies:\t%s\n",
		rt.ID, rt.Name, rt.Status, dash(rt.Type), dash(description),
		dash(strings.Join(rt.Providers, ", ")), dash(strings.Join(rt.Families, ", ")))
	if rt.Degraded {
		fmt.Fprintf(tw, "degraded:\t%s\n", rt.DegradedReason)
	}
	tw.Flush()
	fmt.Fprintln(w, "features:")
	for _, f := range rt.Features {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	fmt.Fprintln(w, provenanceLine(a.Provenance))
}

func printRequirements(w io.Writer, id string, a health.RequirementsAnswer) {
	req := rawObject(a.Requirements)
	if req == nil {
		fmt.Fprintf(w, "%s has no requirements\n%s\n", id, provenanceLine(a.Provenance))
		return
	}
	mr := rawObject(req["model_requirement"])
	list := func(raw json.RawMessage) string { return dash(strings.Join(rawStrings(raw), ", ")) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "runtime:\t%s\nmodels:\t%s\nproviders:\t%s\nfamilies:\t%s\nexamples:\t%s\nrequired config:\t%s\nrecommended config:\t%s\nmax history:\t%s\nsystem prompt required:\t%s\ntools required:\t%s\n",
		id, dash(rawText(mr["description"])), list(mr["supported_providers"]), list(mr["supported_families"]), list(mr["examples"]),
		list(req["required_config_fields"]), list(req["recommended_config_fields"]),
		dash(rawText(req["max_history_length"])), dash(rawText(req["requires_system_prompt"])), dash(rawText(req["requires_tools"])))
	tw.Flush()
	if a.Degraded {
		fmt.Fprintln(w, "degraded: the last sync could not refresh these requirements")
	}
	fmt.Fprintln(w, provenanceLine(a.Provenance))
}

func printValidate(w io.Writer, runtimeType string, r health.ValidateReport) {
	verdict := "valid"
	if !r.Valid {
		verdict = "invalid"
	}
	fmt.Fprintf(w, "%s for runtime %s\n", verdict, runtimeType)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error:   %s\n", e)
	}
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", x)
	}
	fmt.Fprintln(w, provenanceLine(r.Provenance))
}

func printSelect(w io.Writer, a selectAnswer) {
	if a.Best != nil {
		fmt.Fprintf(w, "best: %s (score %v)\n", a.Best.ID, a.Best.Score)
	} else {
		fmt.Fprintln(w, "no runtime meets the request:")
		for _, u := range a.Unmet {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tID\tSCORE\tHEALTH\tREASON")
	for _, r := range a.Candidates {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\n", r.Rank, r.ID, r.Score, r.Health, r.Reason)
	}
	tw.Flush()
	fmt.Fprintln(w, provenanceLine(a.Provenance))
}

func printBuiltConfig(w io.Writer, id string, a health.ConfigAnswer) error {
	// The configuration as an object with its keys sorted, as agents' JSON tools show it.
	raw, err := json.Marshal(a.Config)
	if err != nil {
		return err
	}
	var sorted map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sorted); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(sorted, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", cfg)
	verdict := "valid"
	if !a.Valid {
		verdict = "invalid"
	}
	fmt.Fprintf(w, "%s for runtime %s; filled from requirements: %s\n", verdict, id, dash(strings.Join(a.Filled, ", ")))
	for _, e := range a.Errors {
		fmt.Fprintf(w, "  error:   %s\n", e)
	}
	for _, x := range a.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", x)
	}
	fmt.Fprintln(w, provenanceLine(a.Provenance))
	return nil
}
