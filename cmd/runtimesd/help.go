package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand: the one table that dispatch, `help`, `CMD --help` and the shell
// completions are all generated from.
type command struct {
	name string
	// args is the synopsis after the flags: positional arguments ("ID", "[FILE]").
	args string
	// summary is one line for the command list; details (optional) follow it in `CMD --help`.
	summary, details string
	// client marks the commands that ask a daemon (or the data file with --offline).
	client bool
	// words are the fixed words its first positional argument takes (for completion);
	// files says the positional arguments are file names.
	words []string
	files bool
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error
}

// commands returns the command table, in the order the usage lists them.
func commands() []command {
	noCtx := func(f func([]string, io.Writer, io.Writer, func(string) string) error) func(context.Context, []string, io.Writer, io.Writer, func(string) string) error {
		return func(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
			return f(args, stdout, stderr, getenv)
		}
	}
	return []command{
		{name: "serve", summary: "run the daemon: sync from the control plane, keep the data file, answer the local API",
			run: func(ctx context.Context, args []string, _, stderr io.Writer, getenv func(string) string) error {
				return cmdServe(ctx, args, stderr, getenv)
			}},
		{name: "sync", summary: "run one sync into the data file (--once), print what changed, and exit", run: cmdSync},
		{name: "export", args: "[FILE]", files: true, summary: "print the stored snapshot as JSON (to FILE when given)",
			run: noCtx(cmdExport)},
		{name: "import", args: "FILE", files: true, summary: "commit a snapshot file (from export, or a saved GET /api/v1/runtimes) into the data file",
			run: noCtx(cmdImport)},
		{name: "config", args: "check FILE", words: []string{"check"}, summary: "check a config file and print it with defaults applied (secrets redacted)",
			run: noCtx(cmdConfig)},
		{name: "version", summary: "print the version, commit, Go version and data file schema",
			run: func(_ context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) error {
				return cmdVersionArgs(args, stdout, stderr)
			}},
		{name: "list", client: true, summary: "list runtimes, filtered", run: noCtx(cmdList)},
		{name: "get", args: "ID", client: true, summary: "show one runtime", run: noCtx(cmdGet)},
		{name: "requirements", args: "ID", client: true, summary: "show one runtime's requirements", run: noCtx(cmdRequirements)},
		{name: "validate", client: true, summary: "validate an agent configuration against a runtime (exit 1 when invalid)",
			run: noCtx(cmdValidate)},
		{name: "build-config", args: "ID", client: true, summary: "build an agent configuration from a runtime's requirements (exit 1 when not valid)",
			run: noCtx(cmdBuildConfig)},
		{name: "select", client: true, summary: "choose the best runtime for a request (exit 1 when none meets it)", run: noCtx(cmdSelect)},
		{name: "matrix", client: true, summary: "print the runtime × provider compatibility matrix", run: noCtx(cmdMatrix)},
		{name: "health", client: true, summary: "print the /v1/health report; exit 0 ok, 3 degraded, 4 down",
			run: noCtx(cmdHealth)},
		{name: "policy", args: "test", words: []string{"test"}, client: true,
			summary: "evaluate the config's policy rules against the catalog: which runtimes each denies (exit 1 when a rule could not be evaluated)",
			details: "Rules come from --config; the catalog from the daemon, or the data file with --offline. --input gives the config variable.",
			run:     noCtx(cmdPolicy)},
		{name: "probe", args: "live|ready", words: []string{"live", "ready"}, client: true,
			summary: "exit 0 when /healthz (live) or /readyz (ready) answers 200, for container probes", run: noCtx(cmdProbe)},
		{name: "help", args: "[COMMAND]", summary: "show the usage, or one command's usage and flags",
			run: func(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
				return cmdHelp(args, stdout, stderr, getenv)
			}},
		{name: "completion", args: "bash|zsh", words: []string{"bash", "zsh"},
			summary: "print a shell completion script: source <(runtimesd completion bash)",
			details: "bash: source <(runtimesd completion bash)   (or save it as /etc/bash_completion.d/runtimesd)\n" +
				"zsh:  runtimesd completion zsh > \"${fpath[1]}/_runtimesd\"   (or source <(runtimesd completion zsh) after compinit)",
			run: func(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
				return cmdCompletion(args, stdout, stderr, getenv)
			}},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// helpShown is returned by parseFlags for -h/--help: it carries the command's flags so the
// help printed and the completions come from the flags the command really defines.
type helpShown struct{ fs *flag.FlagSet }

func (*helpShown) Error() string { return "help shown" }

// flagsOf returns the flags a command defines, by asking it for its help.
func flagsOf(c command, getenv func(string) string) *flag.FlagSet {
	var hs *helpShown
	if err := c.run(context.Background(), []string{"--help"}, io.Discard, io.Discard, getenv); errors.As(err, &hs) {
		return hs.fs
	}
	return flag.NewFlagSet(c.name, flag.ContinueOnError)
}

// usageText is the top-level usage, generated from the command table.
func usageText() string {
	var b strings.Builder
	b.WriteString("runtimesd keeps the control plane's Runtimes Service on this machine.\n\nUsage:\n")
	list := func(client bool) {
		w := 0
		for _, c := range commands() {
			if c.client == client && len(synopsis(c)) > w {
				w = len(synopsis(c))
			}
		}
		for _, c := range commands() {
			if c.client == client {
				fmt.Fprintf(&b, "  %-*s  %s\n", w, synopsis(c), c.summary)
			}
		}
	}
	list(false)
	b.WriteString("\nClients of a running daemon (--addr ADDR), or of the data file with --offline [--data DIR];\n--json prints the API's JSON:\n")
	list(true)
	b.WriteString("\n`runtimesd COMMAND --help` (or `runtimesd help COMMAND`) shows a command's flags.\n" +
		"Exit codes: 0 ok, 1 failure, 2 bad usage; `health` 3 degraded, 4 down.\n" +
		"Environment: " + EnvAPIKey + " (the control plane API key), " + EnvBaseURL + ", " + EnvToken + " (the local\n" +
		"token, sent by the clients too), " + EnvRelays + ", " + EnvRelayToken + ", " + EnvNodeName + ";\n" +
		"the data directory defaults to $STATE_DIRECTORY, else $XDG_STATE_HOME/runtimesd, else ~/.local/state/runtimesd.\n")
	return b.String()
}

func synopsis(c command) string {
	s := "runtimesd " + c.name
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// commandHelp is `runtimesd CMD --help`: the synopsis with positional arguments, the summary,
// and every flag with its value name and default.
func commandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	syn := "runtimesd " + c.name
	if n > 0 {
		syn += " [flags]"
	}
	if c.args != "" {
		syn += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", syn, upperFirst(c.summary)+".")
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", c.details)
	}
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flagValueName(f)
		left := "--" + f.Name
		if len(f.Name) == 1 {
			left = "-" + f.Name
		}
		if name != "" {
			left += " " + name
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			usage += " (default " + d + ")"
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.usage)
	}
}

// flagValueName is the flag's value placeholder (none for a bool flag) and its usage. Unlike
// flag.UnquoteUsage, backquotes in a usage are not taken as the value name: a usage may
// quote a command.
func flagValueName(f *flag.Flag) (string, string) {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "", f.Usage
	}
	switch f.Name {
	case "config", "seed", "f":
		return "FILE", f.Usage
	case "data":
		return "DIR", f.Usage
	case "addr", "listen":
		return "ADDR", f.Usage
	case "agent-config", "environment":
		return "JSON", f.Usage
	case "limit":
		return "N", f.Usage
	case "runtime", "candidate":
		return "ID", f.Usage
	}
	return strings.ToUpper(f.Name[:1]), f.Usage
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// cmdHelp is `runtimesd help [COMMAND]`.
func cmdHelp(args []string, stdout, _ io.Writer, getenv func(string) string) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, usageText())
		return nil
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		c, _ := lookupCommand("help")
		commandHelp(stdout, c, flag.NewFlagSet("help", flag.ContinueOnError))
		return nil
	case len(args) > 1:
		return usageErr("help: give at most one COMMAND")
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return usageErr("help: unknown command %q (commands: %s)", args[0], strings.Join(commandNames(), ", "))
	}
	commandHelp(stdout, c, flagsOf(c, getenv))
	return nil
}

func commandNames() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

// isHelpArg says whether args ask for help (-h, --help, -help) before any "--".
func isHelpArg(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

// flagNames lists a flag set's flags as --name (-name for one letter), sorted.
func flagNames(fs *flag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			out = append(out, "-"+f.Name)
		} else {
			out = append(out, "--"+f.Name)
		}
	})
	out = append(out, "--help")
	sort.Strings(out)
	return out
}
