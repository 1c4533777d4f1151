package main

import (
	"encoding/json"
	"fmt"
)

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
