package main

import (
	"flag"
	"os"
	"path/filepath"
)

// defaultPython finds the interpreter that has OpenMM: $GOBG_PYTHON, else the
// .venv that scripts/setup.sh made beside the bin/ directory holding this
// executable, else the .venv in the working directory, else python3 on PATH.
func defaultPython() string {
	if p := os.Getenv("GOBG_PYTHON"); p != "" {
		return p
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", ".venv", "bin", "python"))
		}
	}
	candidates = append(candidates, filepath.Join(".venv", "bin", "python"))
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			if abs, err := filepath.Abs(c); err == nil {
				return abs
			}
			return c
		}
	}
	return "python3"
}

const pythonFlagDoc = "Python interpreter with OpenMM (default: $GOBG_PYTHON, else the project's .venv)"

// addPythonFlag declares --python, the interpreter of the OpenMM worker.
func addPythonFlag(fs *flag.FlagSet) *string { return fs.String("python", "", pythonFlagDoc) }

// orDefaultPython is p, or defaultPython() where --python was not given.
func orDefaultPython(p string) string {
	if p == "" {
		return defaultPython()
	}
	return p
}
