package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/gobg/gobg/internal/atomicfile"
)

// addJSONFlag declares --json, which every command has.
func addJSONFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print a JSON summary as the last line")
}

// addSeedFlag declares --seed (default 1) with the command's help.
func addSeedFlag(fs *flag.FlagSet, help string) *uint64 { return fs.Uint64("seed", 1, help) }

// printJSON writes v as one line of JSON: the summary object that --json
// promises as the last line of stdout.
func printJSON(env *cmdEnv, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	_, err = fmt.Fprintln(env.stdout, string(b))
	return err
}

// maybeJSON prints v with printJSON when --json was given.
func maybeJSON(env *cmdEnv, asJSON bool, v any) error {
	if !asJSON {
		return nil
	}
	return printJSON(env, v)
}

// summaryWriter is where a command prints its human-readable summary: stdout,
// or stderr when --json keeps stdout for the JSON line.
func summaryWriter(env *cmdEnv, asJSON bool) io.Writer {
	if asJSON {
		return env.stderr
	}
	return env.stdout
}

// writeJSONFile writes v, indented, atomically to path.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// dcdTitle cuts a title to the 80 bytes of a DCD title record.
func dcdTitle(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}
