// Command testsummary reads `go test -json` on standard input and prints what
// `go test` would (each package's result, and the full output of every test
// that failed), then every skipped test with its reason and a closing line
// "N passed, N failed, N skipped". It exits 1 when a test or package failed,
// and, with -no-skips (CI), when any test skipped.
//
//	go test -json ./... | go run ./scripts/testsummary -no-skips
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type result struct {
	passed, failed, skipped int
	skips                   []string // "pkg TestName: reason"
	failedPkgs              []string
}

func main() {
	noSkips := flag.Bool("no-skips", false, "fail when any test skipped (CI)")
	flag.Parse()
	r, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if len(r.skips) > 0 {
		fmt.Printf("\nskipped tests (%d):\n", len(r.skips))
		for _, s := range r.skips {
			fmt.Println("  " + s)
		}
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	switch {
	case r.failed > 0 || len(r.failedPkgs) > 0:
		os.Exit(1)
	case *noSkips && r.skipped > 0:
		fmt.Println("no test may skip here (-no-skips)")
		os.Exit(1)
	}
}

// summarize counts top-level tests and subtests alike, as go test -v lists them.
func summarize(in io.Reader, out io.Writer) (*result, error) {
	r := &result{}
	outputs := map[string][]string{} // package/test → its output lines
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// go test prints build failures as plain text.
			fmt.Fprintln(out, string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			outputs[key] = append(outputs[key], e.Output)
			if e.Test == "" && !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "--- ") &&
				!strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "FAIL\n") {
				fmt.Fprint(out, e.Output) // package result lines and output outside tests
			}
		case "pass":
			if e.Test != "" {
				r.passed++
			}
			delete(outputs, key)
		case "skip":
			if e.Test != "" {
				r.skipped++
				r.skips = append(r.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason(outputs[key])))
			}
			delete(outputs, key)
		case "fail":
			if e.Test == "" {
				r.failedPkgs = append(r.failedPkgs, e.Package)
				continue
			}
			r.failed++
			fmt.Fprint(out, strings.Join(outputs[key], ""))
			delete(outputs, key)
		}
	}
	sort.Strings(r.skips)
	return r, sc.Err()
}

// reason is the skip message: the test's output lines other than go test's own.
func reason(lines []string) string {
	var keep []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		keep = append(keep, t)
	}
	if len(keep) == 0 {
		return "(no reason given)"
	}
	return strings.Join(keep, " | ")
}
