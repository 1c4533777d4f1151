// Command gobg trains, samples and evaluates Boltzmann generators for proteins,
// and carries the tools around them (file inspection, internal coordinates,
// energies). Each subcommand is a thin layer over the packages of the module:
// it parses flags, calls them, reports progress on stderr and, with --json,
// prints one JSON summary object as the last line of stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// command is one gobg subcommand.
type command struct {
	name    string
	summary string
	usage   string // synopsis and an example, shown by --help
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a command needs from the process, so tests can run commands
// in-process with captured output.
type cmdEnv struct {
	stdout, stderr io.Writer
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks a mistake on the command line (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], &cmdEnv{stdout: os.Stdout, stderr: os.Stderr}))
}

func runMain(ctx context.Context, args []string, env *cmdEnv) int {
	debugOn := envDebug()
	for len(args) > 0 && (args[0] == "--debug" || args[0] == "-debug") {
		debugOn = true
		args = args[1:]
	}
	level := slog.LevelInfo
	if debugOn {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level})))
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprint(env.stdout, helpText(c))
				return 0
			}
		}
		topUsage(env.stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "gobg: unknown command %q\n\n", args[0])
		topUsage(env.stderr)
		return 2
	}
	err := runCommand(ctx, c, env, args[1:])
	var ie *internalError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ie):
		if debugOn {
			fmt.Fprintf(env.stderr, "gobg %s: internal error: %s\n\n%s", c.name, ie.message(), ie.stack)
		} else {
			fmt.Fprintf(env.stderr, "gobg %s: internal error: %s (gobg --debug %s ... or GOBG_DEBUG=1 prints the stack trace)\n",
				c.name, ie.message(), c.name)
		}
		return 1
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "gobg %s: %v\n\n%s", c.name, err, helpText(c))
		return 2
	default:
		fmt.Fprintf(env.stderr, "gobg %s: %v\n", c.name, err)
		return 1
	}
}

// envDebug reports whether GOBG_DEBUG asks for stack traces (1, true, ...).
func envDebug() bool {
	on, err := strconv.ParseBool(os.Getenv("GOBG_DEBUG"))
	return err == nil && on
}

// internalError is a panic in a command, caught so that the user sees one
// line instead of a Go stack trace (which --debug shows).
type internalError struct {
	value any
	stack []byte
}

func (e *internalError) Error() string { return "internal error: " + e.message() }

// message is the panic's value, cut to its first line.
func (e *internalError) message() string {
	s := fmt.Sprint(e.value)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " ..."
	}
	return s
}

// runCommand runs c and turns a panic on the command's goroutine into an
// *internalError. Panics on goroutines a command starts still end the
// process: no handler here can reach them.
func runCommand(ctx context.Context, c *command, env *cmdEnv, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &internalError{value: r, stack: debug.Stack()}
		}
	}()
	return c.run(ctx, env, args)
}

func topUsage(w io.Writer) {
	fmt.Fprintln(w, "gobg: Boltzmann generators for proteins.")
	fmt.Fprintln(w, "\nUsage: gobg [--debug] COMMAND [flags]   (gobg COMMAND --help for flags and an example)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, `
Global flags (before COMMAND):
  --debug    debug logs, and the stack trace of an internal error (also: GOBG_DEBUG=1)

Every command checks its flags and files before it starts any work.
Exit status: 0 done; 1 an error (one line on stderr: "gobg COMMAND: ...",
"internal error: ..." for a bug in gobg); 2 a mistake on the command line
(the message, then the command's help).`)
}

func helpText(c *command) string {
	return fmt.Sprintf("gobg %s: %s\n\n%s\n", c.name, c.summary, strings.TrimSpace(c.usage))
}

// newFlags makes a FlagSet whose --help prints the command's usage (with its
// example) and the flag defaults.
func newFlags(c *command, env *cmdEnv) *flag.FlagSet {
	fs := flag.NewFlagSet("gobg "+c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprint(env.stderr, helpText(c))
		fmt.Fprintln(env.stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// stringList is a repeatable string flag (--traj a.dcd --traj b.dcd), also
// accepting comma-separated values.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// flagErrHelp is returned after a command printed its help on request.
var flagErrHelp = flag.ErrHelp

// runSubcommand runs the subcommand of c that args name first, with the
// rest of args, or prints c's help for --help.
func runSubcommand(ctx context.Context, env *cmdEnv, c *command, subs map[string]func(context.Context, *cmdEnv, []string) error, args []string) error {
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		newFlags(c, env).Usage()
		return flagErrHelp
	}
	names := strings.Join(sortedKeys(subs), ", ")
	if len(args) == 0 {
		return fmt.Errorf("%w: gobg %s needs a subcommand: %s", errUsage, c.name, names)
	}
	run, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q: the subcommands are %s", errUsage, args[0], names)
	}
	return run(ctx, env, args[1:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
